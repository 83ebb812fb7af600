"""The window's icons: one line-icon set (24-unit grid, 2-unit round strokes), drawn in the
palette's text colour so they follow light and dark, rendered through QtSvg (no icon theme
or image file is needed)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from stagelens.ui.typescale import ICON_PX

# each icon: the inside of an <svg viewBox="0 0 24 24"> drawn with stroke="C" (the colour)
SHAPES: dict[str, str] = {
    "add": '<path d="M12 5v14M5 12h14"/>',
    "copy": '<rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15V6a2 2 0 0 1 2-2h9"/>',
    "regenerate": '<path d="M20 11a8 8 0 1 0-2.3 5.7"/><path d="M20 4v7h-7"/>',
    "edit": '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13.5 6.5l4 4"/>',
    "tree": '<rect x="3" y="3" width="6" height="5" rx="1"/><rect x="15" y="3" width="6" height="5" rx="1"/>'
    '<rect x="15" y="16" width="6" height="5" rx="1"/><path d="M9 5.5h6M12 5.5v13h3"/>',
    "previous": '<path d="M15 5l-7 7 7 7"/>',
    "next": '<path d="M9 5l7 7-7 7"/>',
    "send": '<path d="M4 12l16-8-6 16-3-7z"/><path d="M11 13l9-9"/>',
    "stop": '<rect x="6" y="6" width="12" height="12" rx="2"/>',
    "image": '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/>'
    '<path d="M21 17l-5-5-9 8"/>',
    "chip": '<rect x="6" y="6" width="12" height="12" rx="2"/><path d="M9 2v4M15 2v4M9 18v4M15 18v4'
    'M2 9h4M2 15h4M18 9h4M18 15h4"/>',
    "sliders": '<path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0"/><circle cx="16" cy="6" r="2"/>'
    '<circle cx="10" cy="12" r="2"/><circle cx="18" cy="18" r="2"/>',
    "check": '<path d="M5 12l5 5 9-10"/>',
    "export": '<path d="M12 3v12M7 8l5-5 5 5"/><path d="M5 15v4a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-4"/>',
    "download": '<path d="M12 3v12M7 10l5 5 5-5"/><path d="M5 19h14"/>',
    "zoom-in": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-5-5M8 11h6M11 8v6"/>',
    "zoom-out": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-5-5M8 11h6"/>',
    "fit": '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"/>',
    "table": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M3 10h18M3 15h18M9 4v16"/>',
    "close": '<path d="M6 6l12 12M18 6L6 18"/>',
    "search": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-5-5"/>',
}


def svg(name: str, color: str) -> bytes:
    body = SHAPES[name]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
        f'stroke="{color}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{body}</svg>'
    ).encode()


@lru_cache(maxsize=256)
def _pixmap(name: str, color: str, size: int, ratio: float) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg(name, color)))
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixmap.width(), pixmap.height()))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def refresh_icons(root) -> None:
    """Draw again, in the palette's colours now, every button icon under `root` made by set_icon."""
    from PySide6.QtWidgets import QAbstractButton

    for button in [root, *root.findChildren(QAbstractButton)]:
        name = button.property("iconName")
        if isinstance(button, QAbstractButton) and name:
            set_icon(button, str(name), bool(button.property("iconOnAccent")))


def set_icon(button, name: str, on_accent: bool = False) -> None:
    """Give a button the icon `name` (on_accent: for a button filled with the accent colour),
    redrawn by refresh_icons when the theme changes."""
    button.setProperty("iconName", name)
    button.setProperty("iconOnAccent", on_accent)
    palette = button.palette()
    color = palette.color(QPalette.ColorRole.HighlightedText) if on_accent else None
    button.setIcon(icon(name, palette, color))


def icon(name: str, palette: QPalette | None = None, color: QColor | str | None = None, size: int = ICON_PX) -> QIcon:
    """The icon `name` in the palette's button text colour (or `color`); disabled: the disabled colour."""
    from PySide6.QtGui import QGuiApplication

    palette = palette or QGuiApplication.palette()
    normal = QColor(color) if color is not None else palette.color(QPalette.ColorRole.ButtonText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    ratio = 2.0  # sharp on high-DPI screens, downscaled elsewhere
    result = QIcon()
    result.addPixmap(_pixmap(name, normal.name(), size, ratio), QIcon.Mode.Normal)
    result.addPixmap(_pixmap(name, disabled.name(), size, ratio), QIcon.Mode.Disabled)
    return result
