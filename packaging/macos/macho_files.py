"""Print the Mach-O files inside an .app, deepest first, NUL-separated (for codesign).

python packaging/macos/macho_files.py StageLens.app | xargs -0 ...
"""

from __future__ import annotations

import sys
from pathlib import Path

MACHO_MAGIC = {
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",  # 64- and 32-bit, little-endian
    b"\xfe\xed\xfa\xcf",
    b"\xfe\xed\xfa\xce",  # big-endian
    b"\xca\xfe\xba\xbe",
    b"\xbe\xba\xfe\xca",  # universal (fat)
}


def is_macho(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as fh:
        return fh.read(4) in MACHO_MAGIC


def macho_files(app: Path) -> list[Path]:
    found = [p for p in (app / "Contents").rglob("*") if is_macho(p)]
    return sorted(found, key=lambda p: (-len(p.parts), str(p)))


def main() -> int:
    for path in macho_files(Path(sys.argv[1])):
        sys.stdout.write(f"{path}\0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
