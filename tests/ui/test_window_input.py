"""Getting images into the window: browser drags (data: URLs, <img> in HTML, web links
downloaded from a real local HTTP server), pasted files, the thumbnail preview, error thumbnails."""

from __future__ import annotations

import base64
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPoint, Qt, QThread, QUrl  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402
from tests.fixtures.qt_drop import drop  # noqa: E402
from tests.fixtures.qt_window import wait_images  # noqa: E402

from stagelens.history import HistoryStore  # noqa: E402
from stagelens.models.default import ModelChoice  # noqa: E402
from stagelens.settings import AppSettings  # noqa: E402
from stagelens.ui.main_window import MainWindow  # noqa: E402
from stagelens.ui.theme import stylesheet  # noqa: E402
from stagelens.ui.thumbnails import ImagePreview  # noqa: E402

TIMEOUT_MS = 120_000
SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
READABLE = "is not an image StageLens can read (PNG, JPEG, WebP, GIF, BMP, TIFF)"


def png(size: tuple[int, int], color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def noise_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("L", (side, side), bytes((i * 7919) % 251 for i in range(side * side))).save(buf, "PNG")
    return buf.getvalue()


CAT = png((120, 90))


@pytest.fixture()
def make_window(qtbot, tiny_model, tmp_path):
    QApplication.instance().setStyleSheet(stylesheet())

    def make(**settings) -> MainWindow:
        base = AppSettings(beam=2, max_stage_tokens=12, n_ctx=4096)
        window = MainWindow(
            history=HistoryStore(tmp_path / "data"),
            settings=AppSettings(**{**base.__dict__, **settings}),
            model=ModelChoice("Tiny test model (random weights)", tiny_model.text, tiny_model.mmproj, "test"),
            save_settings_file=False,
        )
        qtbot.addWidget(window)
        window.resize(1000, 720)
        window.show()
        qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
        return window

    return make


@pytest.fixture()
def window(make_window) -> MainWindow:
    return make_window()


class Server:
    """A real HTTP server on 127.0.0.1; /slow.png and /hang.png wait for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.big = noise_png(96)
        routes = {
            "/cat.png": (200, "image/png", CAT),
            "/slow.png": (200, "image/png", png((64, 48), (20, 120, 20))),
            "/missing.png": (404, "text/html", b"<h1>Not Found</h1>"),
            "/page.png": (200, "text/html; charset=utf-8", b"<html><body>a page, not a picture</body></html>"),
            "/mislabeled.jpg": (200, "application/octet-stream", b"plain text pretending to be a photo\n" * 10),
            "/big.png": (200, "image/png", self.big),
            "/hang.png": (200, "image/png", CAT),
        }
        release = self.release

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                status, ctype, body = routes.get(self.path, (404, "text/plain", b"no such thing"))
                if self.path in ("/slow.png", "/hang.png"):
                    release.wait(30)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    srv = Server()
    yield srv
    srv.close()


def browser_mime(uris: list[str], html: str) -> QMimeData:
    """What Chrome on Linux offers for a dragged image: text/uri-list + text/html, no image data."""
    mime = QMimeData()
    if uris:
        mime.setUrls([QUrl(u) for u in uris])
    mime.setHtml(html)
    assert not mime.hasImage() and not any(f.startswith("image/") for f in mime.formats())
    return mime


def thumb_text(window: MainWindow, index: int) -> str:
    return window.strip.thumbs[index].picture.text()


def shows_name(text: str, name: str) -> bool:
    """The thumbnail's last line is the name, or the name elided in the middle."""
    line = text.split("\n")[-1]
    head, dots, tail = line.partition("…")
    return line == name or (bool(dots and head and tail) and name.startswith(head) and name.endswith(tail))


def shot(widget, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


def wait_downloads(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.strip.downloading(), timeout=TIMEOUT_MS)
    wait_images(qtbot, window)


def test_web_image_downloads_off_the_gui_thread(window, qtbot, server):
    threads = []
    window.strip.changed.connect(lambda: threads.append(QThread.currentThread()))
    url = server.url("/slow.png")
    mime = browser_mime([url], f'<meta charset="utf-8"><img src="{url}" alt="a green box">')
    drop(window, mime)
    # the drop returned while the server still holds the answer back: the window was not blocked
    assert [i.pending for i in window.strip.images] == [True]
    assert window.strip.thumbs[0].objectName() == "thumbPending"
    assert "Loading…" in thumb_text(window, 0) and shows_name(thumb_text(window, 0), "slow.png")
    assert window.strip.valid_images() == []
    shot(window.strip, "input-1-downloading")
    server.release.set()
    wait_downloads(qtbot, window)
    image = window.strip.images[0]
    assert image.ok and image.name == "slow.png" and image.suffix == ".png" and image.url == url
    assert image.original_size == (64, 48)
    assert window.strip.valid_images() == [image]
    assert window.strip.thumbs[0].objectName() == "thumb"
    assert window.strip.thumbs[0].picture.pixmap() is not None and not window.strip.thumbs[0].picture.pixmap().isNull()
    assert threads and all(t is QApplication.instance().thread() for t in threads)


def test_web_image_errors_show_on_their_thumbnails(window, qtbot, server):
    urls = [server.url(p) for p in ("/missing.png", "/page.png", "/mislabeled.jpg")]
    html = "".join(f'<img src="{u}">' for u in urls)
    drop(window, browser_mime([], html))
    wait_downloads(qtbot, window)
    thumbs = window.strip.thumbs
    assert [i.name for i in window.strip.images] == ["missing.png", "page.png", "mislabeled.jpg"]
    assert [t.objectName() for t in thumbs] == ["thumbError"] * 3
    assert window.strip.valid_images() == []
    expected = [
        "missing.png could not be downloaded: the server answered 404 Not Found",
        "page.png is not an image (the server sent text/html)",
        f"mislabeled.jpg {READABLE}",
    ]
    for thumb, image, message in zip(thumbs, window.strip.images, expected, strict=True):
        assert image.error == message
        assert thumb.toolTip() == f"{image.name}\n{message}"
        assert "Download failed" in thumb.picture.text() and shows_name(thumb.picture.text(), image.name)
    assert window.statusBar().currentMessage() in expected
    shot(window, "input-2-download-errors")


def test_too_large_and_silent_servers_are_refused(window, qtbot, server):
    window.strip.loader.max_web_bytes = len(server.big) - 1
    window.strip.loader.web_timeout_s = 0.5
    big, hang = server.url("/big.png"), server.url("/hang.png")
    drop(window, browser_mime([big], f'<img src="{big}">'))
    drop(window, browser_mime([hang], f'<img src="{hang}">'))
    wait_downloads(qtbot, window)
    errors = [i.error for i in window.strip.images]
    assert errors[0].startswith("big.png is larger than ")
    assert errors[1] == "hang.png could not be downloaded: no answer within 0.5 s"


def test_removing_a_downloading_image_drops_its_result(window, qtbot, server):
    url = server.url("/slow.png")
    drop(window, browser_mime([url], f'<img src="{url}">'))
    pending = window.strip.images[0]
    finished = []
    window.image_events.finished.connect(finished.append)
    qtbot.mouseClick(window.strip.thumbs[0].remove_button, Qt.MouseButton.LeftButton)
    assert window.strip.images == []
    server.release.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=TIMEOUT_MS)
    assert finished[0] is pending and pending.ok
    assert window.strip.images == [] and not window.strip.isVisible()


def test_data_url_drop_is_decoded(window, qtbot):
    data_url = "data:image/png;base64," + base64.b64encode(png((30, 20))).decode()
    drop(window, browser_mime([data_url], f'<img src="{data_url}">'))
    wait_images(qtbot, window)
    [image] = window.strip.images
    assert image.ok and image.original_size == (30, 20) and image.suffix == ".png"
    assert image.name.startswith("pasted-") and image.name.endswith(".png")

    drop(window, browser_mime(["data:image/png;base64,@@not-base64@@"], ""))
    wait_images(qtbot, window)
    assert window.strip.images[1].error.endswith("has damaged base64 data")
    drop(window, browser_mime(["data:text/plain;base64,aGVsbG8="], ""))
    wait_images(qtbot, window)
    assert window.strip.images[2].error.endswith("is text/plain, not an image")
    assert len(window.strip.valid_images()) == 1


@pytest.mark.parametrize("with_link", [False, True], ids=["html-only", "linked-image"])
def test_html_drop_uses_the_img_src(window, qtbot, server, with_link):
    """HTML alone, or an image inside a link, where the URL list names the page, not the picture."""
    page, cat = server.url("/page.png"), server.url("/cat.png")
    html = f'<a href="{page}"><img alt="cat" src="{cat}"></a>' if with_link else f"<p>look</p><img src='{cat}'>"
    drop(window, browser_mime([page] if with_link else [], html))
    wait_downloads(qtbot, window)
    [image] = window.strip.images
    assert image.ok and image.name == "cat.png" and image.data == CAT and image.original_size == (120, 90)


def test_paste_copied_files_with_ctrl_v(window, qtbot, scene_path, tmp_path):
    second = tmp_path / "second.jpg"
    Image.new("RGB", (40, 30), (10, 90, 10)).save(second, "JPEG")
    mime = QMimeData()  # what a file manager puts on the clipboard for "Copy"
    mime.setUrls([QUrl.fromLocalFile(str(scene_path)), QUrl.fromLocalFile(str(second))])
    mime.setText(f"{scene_path}\n{second}")
    QGuiApplication.clipboard().setMimeData(mime)
    window.question.edit.setFocus()
    qtbot.keyClick(window.question.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [i.name for i in window.strip.images] == ["scene.png", "second.jpg"]
    wait_images(qtbot, window)
    assert [i.original_size for i in window.strip.images] == [(96, 72), (40, 30)]
    assert all(i.ok for i in window.strip.images)
    assert window.question.text() == ""
    # the clipboard took the QMimeData over; left there, the process crashes when it exits
    QGuiApplication.clipboard().clear()


def test_click_thumbnail_shows_original_and_sent_size(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window(image_max_side=120)
    big = tmp_path / "wide.png"
    big.write_bytes(png((300, 200)))
    window.add_image_paths([big])
    wait_images(qtbot, window)
    shown = []

    def fake_exec(dialog) -> int:
        shown.append(dialog)
        return 0

    monkeypatch.setattr(ImagePreview, "exec", fake_exec)
    qtbot.mouseClick(window.strip.thumbs[0], Qt.MouseButton.LeftButton)
    [preview] = shown
    qtbot.addWidget(preview)
    texts = [label.text() for label in preview.findChildren(QLabel)]
    assert any("Original 300 × 200 px · sent to the model 120 × 80 px" in t for t in texts)
    assert preview.windowTitle() == "wide.png"
    pictures = [label.pixmap() for label in preview.findChildren(QLabel) if not label.pixmap().isNull()]
    assert len(pictures) == 1


def test_unreadable_file_thumbnail_names_it_and_is_not_sent(window, qtbot, tmp_path):
    broken = tmp_path / "holiday-photo-from-the-beach-2024-number-17.png"
    broken.write_text("not a picture at all\n" * 10)
    window.add_image_paths([broken])
    wait_images(qtbot, window)
    [thumb] = window.strip.thumbs
    text = thumb.picture.text()
    assert "Can't read" in text and "…" in text  # the long name is elided, not dropped
    assert shows_name(text, broken.name)
    message = f"{broken.name} {READABLE}"
    assert thumb.toolTip() == f"{broken.name}\n{message}"
    assert window.statusBar().currentMessage() == message
    assert window.strip.valid_images() == []
    # the remove button stays on top of the picture's corner
    button = thumb.remove_button
    assert thumb.childAt(button.geometry().center()) is button
    assert thumb.childAt(QPoint(button.x() - 6, thumb.height() // 2)) is thumb.picture


def test_a_dropped_file_is_decoded_once_off_the_gui_thread_and_the_answer_waits_for_it(
    window, qtbot, scene_path, monkeypatch
):
    """The strip shows "Loading…" while the file is decoded on a loader thread; a question sent meanwhile
    waits for it; the strip, the question's thumbnail, the engine and the history then share that one
    decode (one digest), none decodes the file again."""
    import threading

    from stagelens.images import decode, loader

    release = threading.Event()
    decoded_on: list[threading.Thread] = []
    prepare = decode._prepare

    def counted(*args, **kwargs):
        decoded_on.append(threading.current_thread())
        return prepare(*args, **kwargs)

    def held(*args, **kwargs):
        release.wait(30)
        return decode.prepare_bytes(*args, **kwargs)

    monkeypatch.setattr(decode, "_prepare", counted)
    monkeypatch.setattr(loader, "prepare_bytes", held)
    window.add_image_paths([scene_path])
    assert window.strip.thumbs[0].objectName() == "thumbPending" and "Loading…" in thumb_text(window, 0)
    assert window.strip.valid_images() == [] and window.strip.loading() == window.strip.images
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask("What is this?")  # sent while the image is still being read
        turn = window.conversation.turns[-1]
        assert [i.name for i in turn.images] == ["scene.png"] and window.question.send_button.text() == "Stop"
        card = window._card_for(turn)
        assert card.thumbs[0].objectName() == "thumbPending"
        release.set()
    image = turn.images[0]
    assert turn.answer.trace is not None and turn.answer.trace.images[0]["sent_size"] == [96, 72]
    qtbot.waitUntil(lambda: card.thumbs[0].objectName() == "thumb", timeout=TIMEOUT_MS)
    assert card.thumbs[0].picture.pixmap() is not None and not card.thumbs[0].picture.pixmap().isNull()
    assert len(decoded_on) == 1 and decoded_on[0] is not threading.main_thread(), "decoded once, off the GUI thread"
    assert [p.name for p in window.history.image_files()] == [f"{image.digest}.png"]
    ask_again = window.conversation.turns[-1]
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask("And now?")
    assert ask_again.images[0] is image and len(decoded_on) == 1, "a follow-up sends the same pixels again"
