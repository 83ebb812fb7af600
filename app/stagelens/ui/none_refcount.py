"""Work around a reference-count bug of PySide6 6.12 on Python 3.11.

Measured here: every call of a Qt method that returns nothing (``label.setText``,
``QApplication.processEvents``...) leaves ``None`` with one reference fewer, and every
``signal.emit(...)`` does the same to ``True``. On Python 3.12+ these objects are immortal and
nothing happens; on 3.11 a long session drains the count and the process aborts with
"none_dealloc: deallocating None" (or "bool_dealloc"). Giving them a huge count up front makes
them as good as immortal, as they are on 3.12. PySide6 6.11.3 does not have the bug.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 48
_applied = False


def make_none_immortal() -> bool:
    """Raise the singletons' reference counts once; True if it was needed and done."""
    global _applied
    if _applied or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every object in CPython 3.11
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _applied = True
    return True
