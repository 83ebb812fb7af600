"""Markdown (CommonMark + GitHub tables, through Qt's own parser) rendered into a document that
never fetches or reads anything and never runs HTML:

- raw HTML is not parsed (MarkdownNoHTML): a model's `<script>` is shown as the text it is;
- images are never loaded, not even local files: each becomes "[image: alt]" with its address in
  a tooltip, and the document's resource loader answers nothing;
- links stay links to read and copy; the view decides what a click does (it never opens one).

Code blocks become a box (a one-column table: a header row with the language and room for the
view's Copy button, then the code); headings, tables and quotes follow the window's type scale
and palette."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrameFormat,
    QTextLength,
    QTextTable,
    QTextTableFormat,
)

from stagelens.ui.markdown_source import clean
from stagelens.ui.typescale import HEADING_SCALE, SPACE

COPY_BUTTON_ROOM = 84  # px kept free at the right of a code block's header for the view's Copy button

FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)


@dataclass(frozen=True)
class MarkdownColors:
    code_background: QColor
    code_header: QColor
    muted: QColor
    border: QColor
    link: QColor
    quote: QColor


@dataclass
class CodeBlock:
    """One code block of the rendered text: the table that shows it (row 0 is its header)."""

    language: str
    text: str
    table: QTextTable


class SafeDocument(QTextDocument):
    """A document that loads no resource: no image file, no URL, ever (`refused` lists what was asked)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.refused: list[str] = []

    def loadResource(self, kind: int, name: QUrl | str) -> object:  # noqa: N802 - Qt override
        self.refused.append(name.toString() if isinstance(name, QUrl) else str(name))
        return None


def render(document: QTextDocument, markdown: str, colors: MarkdownColors, base: QFont) -> list[CodeBlock]:
    """Replace the document's content with `markdown` rendered; returns its code blocks in order."""
    document.setDefaultFont(base)
    document.setMarkdown(clean(markdown), FEATURES)
    _replace_images(document, colors)
    _style_blocks(document, colors, base)
    _style_tables(document, colors)
    return _box_code(document, colors, base)


def _blocks(document: QTextDocument) -> list[QTextBlock]:
    blocks, block = [], document.begin()
    while block.isValid():
        blocks.append(block)
        block = block.next()
    return blocks


def _fragments(block: QTextBlock):
    it = block.begin()
    while not it.atEnd():
        yield it.fragment()
        it += 1


def _select(cursor: QTextCursor, start: int, end: int) -> QTextCursor:
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    return cursor


def _replace_images(document: QTextDocument, colors: MarkdownColors) -> None:
    found = []
    for block in _blocks(document):
        for fragment in _fragments(block):
            fmt = fragment.charFormat()
            if fmt.isImageFormat():
                image = fmt.toImageFormat()
                alt = str(image.property(QTextFormat.Property.ImageAltText) or "").strip()
                found.append((fragment.position(), fragment.length(), alt, image.name()))
    cursor = QTextCursor(document)
    for position, length, alt, url in reversed(found):  # from the end: earlier positions stay valid
        fmt = QTextCharFormat()
        fmt.setFontItalic(True)
        fmt.setForeground(colors.muted)
        fmt.setToolTip(f"Image not loaded: {url}" if url else "Image not loaded")
        _select(cursor, position, position + length).insertText(f"[image: {alt}]" if alt else "[image]", fmt)


def _style_blocks(document: QTextDocument, colors: MarkdownColors, base: QFont) -> None:
    """Headings on the type scale, quotes muted, links underlined with their address as a tooltip."""
    size = base.pointSizeF() if base.pointSizeF() > 0 else 10.0
    cursor = QTextCursor(document)
    for block in _blocks(document):
        end = block.position() + block.length() - 1
        block_format = block.blockFormat()
        level = block_format.headingLevel()
        if level > 0:
            fmt = QTextCharFormat()
            fmt.setProperty(QTextFormat.Property.FontSizeAdjustment, 0)
            fmt.setFontPointSize(size * HEADING_SCALE.get(level, 1.0))
            fmt.setFontWeight(QFont.Weight.DemiBold)
            _select(cursor, block.position(), end).mergeCharFormat(fmt)
            block_format.setTopMargin(SPACE[3])
            block_format.setBottomMargin(SPACE[1])
            cursor.setBlockFormat(block_format)
        if block_format.hasProperty(QTextFormat.Property.BlockQuoteLevel):
            fmt = QTextCharFormat()
            fmt.setForeground(colors.quote)
            _select(cursor, block.position(), end).mergeCharFormat(fmt)
        for fragment in _fragments(block):
            fmt = fragment.charFormat()
            if fmt.isAnchor() and fmt.anchorHref():
                fmt.setForeground(colors.link)
                fmt.setFontUnderline(True)
                fmt.setToolTip(fmt.anchorHref())
                _select(cursor, fragment.position(), fragment.position() + fragment.length()).setCharFormat(fmt)


def _table_format(colors: MarkdownColors, base: QTextTableFormat | None = None) -> QTextTableFormat:
    fmt = QTextTableFormat(base) if base is not None else QTextTableFormat()
    fmt.setBorder(1)
    fmt.setBorderBrush(colors.border)
    fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
    fmt.setBorderCollapse(True)
    fmt.setCellPadding(SPACE[1])
    fmt.setCellSpacing(0)
    fmt.setTopMargin(SPACE[1])
    fmt.setBottomMargin(SPACE[1])
    return fmt


def _style_tables(document: QTextDocument, colors: MarkdownColors) -> None:
    for frame in document.rootFrame().childFrames():
        if isinstance(frame, QTextTable):
            frame.setFormat(_table_format(colors, frame.format()))


def _is_code(block: QTextBlock) -> bool:
    fmt = block.blockFormat()
    return fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.nonBreakableLines()


def _language(block: QTextBlock) -> str:
    return str(block.blockFormat().property(QTextFormat.Property.BlockCodeLanguage) or "").strip()


def _code_groups(document: QTextDocument) -> list[list[QTextBlock]]:
    """Runs of consecutive code blocks of the root frame: one code block each (the parser makes a
    block per line). A code block inside a table cell stays as the parser made it."""
    groups: list[list[QTextBlock]] = []
    previous: QTextBlock | None = None
    root = document.rootFrame()
    for block in _blocks(document):
        if not _is_code(block) or QTextCursor(block).currentFrame() is not root:
            previous = None
            continue
        fence = QTextFormat.Property.BlockCodeFence
        same = (
            previous is not None
            and previous.next() == block
            and _language(previous) == _language(block)
            and previous.blockFormat().property(fence) == block.blockFormat().property(fence)
        )
        if same:
            groups[-1].append(block)
        else:
            groups.append([block])
        previous = block
    return groups


def _box_code(document: QTextDocument, colors: MarkdownColors, base: QFont) -> list[CodeBlock]:
    mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if base.pointSizeF() > 0:
        mono.setPointSizeF(base.pointSizeF() * 0.95)
    cursor = QTextCursor(document)
    boxes: list[CodeBlock] = []
    for group in reversed(_code_groups(document)):  # from the end: earlier positions stay valid
        first, last = group[0], group[-1]
        language, text = _language(first), "\n".join(b.text() for b in group)
        indent = first.blockFormat().leftMargin() + first.blockFormat().indent() * document.indentWidth()
        _select(cursor, first.position(), last.position() + last.length() - 1).removeSelectedText()
        cursor.setBlockFormat(QTextBlockFormat())
        table_format = _table_format(colors)
        table_format.setLeftMargin(indent)  # in a list: under its item
        table_format.setColumnWidthConstraints([QTextLength(QTextLength.Type.PercentageLength, 100)])
        table_format.setCellPadding(SPACE[2] - 2)
        table = cursor.insertTable(2, 1, table_format)
        for row, background in ((0, colors.code_header), (1, colors.code_background)):
            cell = table.cellAt(row, 0)
            cell_format = cell.format().toTableCellFormat()
            cell_format.setBackground(background)
            cell.setFormat(cell_format)
        header = table.cellAt(0, 0).firstCursorPosition()
        header_format = table.cellAt(0, 0).format().toTableCellFormat()
        header_format.setTopPadding(SPACE[1] + 2)
        header_format.setBottomPadding(SPACE[1] + 2)
        header_format.setRightPadding(COPY_BUTTON_ROOM)
        table.cellAt(0, 0).setFormat(header_format)
        label = QTextCharFormat()
        label.setForeground(colors.muted)
        label.setFontPointSize((base.pointSizeF() if base.pointSizeF() > 0 else 10.0) * 0.9)
        header.insertText(language or "code", label)
        body = table.cellAt(1, 0).firstCursorPosition()
        body.setBlockFormat(QTextBlockFormat())  # code wraps too: nothing may widen the conversation
        code_char = QTextCharFormat()
        code_char.setFont(mono)
        body.insertText(text, code_char)
        boxes.append(CodeBlock(language, text, table))
    boxes.reverse()
    return boxes


def plain_text(markdown: str) -> str:
    """What Markdown reads as without its marks: paragraphs, list items with their bullets or
    numbers, table rows with tab-separated cells, code as it is, images as "[image: alt]"."""
    from PySide6.QtGui import QTextFrame, QTextList, QTextListFormat

    document = SafeDocument()
    document.setMarkdown(clean(markdown), FEATURES)
    quiet = MarkdownColors(*(QColor() for _ in range(6)))
    _replace_images(document, quiet)
    lines: list[str] = []

    def block_line(block: QTextBlock) -> str:
        text = block.text()
        text_list: QTextList | None = block.textList()
        if text_list is None:
            return text
        fmt = text_list.format()
        depth = max(0, fmt.indent() - 1)
        numbered = fmt.style() in (
            QTextListFormat.Style.ListDecimal,
            QTextListFormat.Style.ListLowerAlpha,
            QTextListFormat.Style.ListUpperAlpha,
            QTextListFormat.Style.ListLowerRoman,
            QTextListFormat.Style.ListUpperRoman,
        )
        marker = f"{text_list.itemNumber(block) + 1}." if numbered else "•"
        return "  " * depth + f"{marker} {text}"

    def walk(frame: QTextFrame) -> None:
        it = frame.begin()
        while not it.atEnd():
            child = it.currentFrame()
            if isinstance(child, QTextTable):
                for row in range(child.rows()):
                    cells = []
                    for column in range(child.columns()):
                        cell = child.cellAt(row, column)
                        cursor = cell.firstCursorPosition()
                        cursor.setPosition(cell.lastCursorPosition().position(), QTextCursor.MoveMode.KeepAnchor)
                        cells.append(cursor.selectedText().replace("\u2029", " "))
                    lines.append("\t".join(cells))
                lines.append("")
            elif child is not None:
                walk(child)
            else:
                block = it.currentBlock()
                lines.append(block_line(block))
                if block.textList() is None and not _is_code(block):
                    lines.append("")  # paragraphs and headings stand apart, as they are shown
            it += 1

    walk(document.rootFrame())
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")
