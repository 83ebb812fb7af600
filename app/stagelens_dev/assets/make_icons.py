"""Render resources/icons/stagelens.svg to PNGs (16..512 px) for packaging.

Run: QT_QPA_PLATFORM=offscreen python -m stagelens_dev.assets.make_icons
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from stagelens_dev.paths import source_root

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    icons = source_root() / "resources" / "icons"
    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(icons / "stagelens.svg"))
    if not renderer.isValid():
        print("make_icons: stagelens.svg could not be read", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = icons / f"stagelens-{size}.png"
        if not image.save(str(out)):
            print(f"make_icons: could not write {out}", file=sys.stderr)
            return 1
    print(f"wrote {len(SIZES)} PNGs to {icons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
