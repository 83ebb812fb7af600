"""Slots that never take the window down: an exception is logged and shown in the
status bar of the window instead of reaching Qt (where PySide would print and carry on,
or abort the process)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QApplication, QMainWindow

log = logging.getLogger(__name__)

_last_error: list[str] = []


def last_errors() -> list[str]:
    """Messages of the exceptions caught so far (for --self-test and tests)."""
    return list(_last_error)


def report(exc: BaseException) -> None:
    message = f"Something went wrong: {exc}"
    log.error("%s", message, exc_info=exc)
    _last_error.append(str(exc))
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMainWindow) and widget.isVisible():
            widget.statusBar().showMessage(message, 10000)


def _max_positional(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a slot; extra signal arguments it does not take (e.g. clicked's `checked`) are dropped."""
    limit = _max_positional(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*(args if limit is None else args[:limit]), **kwargs)
        except Exception as exc:
            report(exc)
            return None

    return wrapper
