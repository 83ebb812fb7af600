"""Downloads against a real HTTP server on 127.0.0.1 in the Hub's URL layout (tests/fixtures/hub.py);
huggingface-hub is pointed at it through the endpoint setting; nothing is mocked."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tests.fixtures.hub import CHUNK, REPO, STALL, entry_for, serve, write_catalog

from stagelens.models.catalog import CatalogEntry, CatalogFile
from stagelens.models.download import DownloadManager
from stagelens.models.download_errors import (
    AccessDeniedError,
    ChecksumError,
    DiskSpaceError,
    NetworkError,
    NotFoundOnHubError,
    OfflineError,
)
from stagelens.models.download_files import partial_downloads
from stagelens.models.registry import Registry


class Events:
    def __init__(self) -> None:
        self.items = []
        self.lock = threading.Lock()
        self.hooks = []

    def __call__(self, event) -> None:
        with self.lock:
            self.items.append(event)
        for hook in list(self.hooks):
            hook(event)

    def states(self) -> list[str]:
        out = []
        for e in self.items:
            if not out or out[-1] != e.state:
                out.append(e.state)
        return out


def manager(hub, tmp_path, events=None, **kw) -> DownloadManager:
    return DownloadManager(folder=tmp_path / "models", endpoint=hub.url, on_event=events, **kw)


def start_until_the_server_stalls(hub, tmp_path, model_files):
    """Start the tiny model's download; return once the server has sent STALL bytes of the
    text model and gone silent."""
    serve(hub, model_files)
    hub.files[(REPO, "tiny-text.gguf")].stall_after = STALL
    arrived = threading.Event()
    events = Events()
    events.hooks.append(lambda e: e.files[0].done >= STALL and arrived.set())
    job = manager(hub, tmp_path, events, event_interval=0.0).start(entry_for(model_files))
    assert arrived.wait(60)
    return job


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_full_download_reports_progress_verifies_registers_and_loads_in_engine(hub, tmp_path, model_files):
    serve(hub, model_files)
    events = Events()
    mgr = manager(hub, tmp_path, events, event_interval=0.0)
    installed = mgr.download(entry_for(model_files))

    assert events.states() == ["queued", "checking", "downloading", "verifying", "downloading", "verifying", "done"]
    text_size = len(model_files[0][1])
    text_progress = [e.files[0].done for e in events.items if e.state == "downloading" and e.files[0].done]
    assert len(set(text_progress)) > 3, "progress must be reported while the file arrives"
    assert text_progress == sorted(text_progress) and text_progress[-1] == text_size
    last = events.items[-1]
    assert [f.percent for f in last.files] == [100.0, 100.0]
    assert all(f.state == "done" for f in last.files)
    assert "/ " in last.files[0].describe() and "100%" in last.files[0].describe()
    # every byte was fetched exactly once
    assert [r.sent for r in hub.gets("tiny-text.gguf")] == [text_size]

    assert Registry(tmp_path / "models").get("tiny-vlm") == installed
    assert Path(installed.text).read_bytes() == model_files[0][1]
    assert not partial_downloads(tmp_path / "models")

    from stagelens.engine import Engine, LoadSettings

    eng = Engine(LoadSettings(installed.text, installed.mmproj, n_ctx=1024))
    try:
        assert eng.info["n_embd"] == 64
    finally:
        eng.close()


def test_connection_dropped_mid_file_resumes_without_fetching_bytes_again(hub, tmp_path, model_files):
    serve(hub, model_files)
    # drop at a whole number of the client's read chunks: a partly filled chunk is never written
    # to disk by huggingface-hub, so it would (correctly) be fetched again
    drop = 12 * CHUNK
    hub.files[(REPO, "tiny-text.gguf")].drop_after = drop
    mgr = manager(hub, tmp_path)
    mgr.download(entry_for(model_files))

    size = len(model_files[0][1])
    gets = hub.gets("tiny-text.gguf")
    assert [(r.range, r.sent) for r in gets] == [(None, drop), (f"bytes={drop}-", size - drop)]


def test_pause_then_resume_continues_from_the_partial_file(hub, tmp_path, model_files):
    serve(hub, model_files, delay=0.01)
    events = Events()
    mgr = manager(hub, tmp_path, events)
    job_holder = []

    def pause_once_bytes_arrive(event):
        if job_holder and event.state == "downloading" and event.files[0].done >= 100_000:
            events.hooks.clear()
            job_holder[0].pause()

    events.hooks.append(pause_once_bytes_arrive)
    job = mgr.start(entry_for(model_files))
    job_holder.append(job)
    assert job.wait(60)
    assert job.state == "paused" and job.error is None
    part = tmp_path / "models" / "tiny-vlm" / "tiny-text.gguf.part"
    have = part.stat().st_size
    size = len(model_files[0][1])
    assert 0 < have < size
    assert not (tmp_path / "models" / "tiny-vlm" / "tiny-text.gguf").exists(), "a partial file is never final"
    assert Registry(tmp_path / "models").get("tiny-vlm") is None

    job.resume()
    assert job.wait(60)
    assert job.state == "done"
    gets = hub.gets("tiny-text.gguf")
    assert gets[-1].range == f"bytes={have}-" and gets[-1].sent == size - have
    assert Path(job.installed.text).read_bytes() == model_files[0][1]


def test_download_killed_in_another_process_resumes_from_its_partial_file(hub, tmp_path, model_files):
    serve(hub, model_files, delay=0.02, chunk=8 * 1024)
    catalog = tmp_path / "catalog.json"
    e = entry_for(model_files)
    write_catalog(catalog, e)
    folder = tmp_path / "models"
    script = textwrap.dedent(f"""
        from huggingface_hub import constants
        constants.DOWNLOAD_CHUNK_SIZE = {CHUNK}
        from stagelens.models.catalog import load_catalog
        from stagelens.models.download import DownloadManager
        DownloadManager(folder={str(folder)!r}, endpoint={hub.url!r}).download(load_catalog({str(catalog)!r})[0])
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "app"))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    part = folder / "tiny-vlm" / "tiny-text.gguf.part"
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size >= 100_000) and time.monotonic() < deadline:
            assert proc.poll() is None, "the download process ended before it could be killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    have = part.stat().st_size
    assert 100_000 <= have < len(model_files[0][1])

    for f in hub.files.values():
        f.delay = 0.0
    mgr = manager(hub, tmp_path)
    installed = mgr.download(e)
    assert hub.gets("tiny-text.gguf")[-1].range == f"bytes={have}-"
    assert Path(installed.text).read_bytes() == model_files[0][1]


@pytest.mark.parametrize("checksum_from", ["catalog", "hub"])
def test_checksum_mismatch_deletes_the_file_and_registers_nothing(hub, tmp_path, model_files, checksum_from):
    corrupt = bytearray(model_files[0][1])
    corrupt[5000] ^= 0xFF
    hub.add(
        REPO,
        "tiny-text.gguf",
        bytes(corrupt),
        etag=hashlib.sha256(model_files[0][1]).hexdigest() if checksum_from == "hub" else None,
    )
    hub.add(REPO, "tiny-mmproj.gguf", model_files[1][1])
    events = Events()
    mgr = manager(hub, tmp_path, events)
    job = mgr.start(entry_for(model_files, sha=checksum_from == "catalog"))
    job.wait(60)
    assert isinstance(job.error, ChecksumError)
    assert "corrupt" in str(job.error) and ("the catalog" if checksum_from == "catalog" else "the Hub") in str(
        job.error
    )
    assert job.state == "failed" and events.items[-1].message == str(job.error)
    folder = tmp_path / "models" / "tiny-vlm"
    assert not (folder / "tiny-text.gguf").exists() and not (folder / "tiny-text.gguf.part").exists()
    assert Registry(tmp_path / "models").list() == []


def test_missing_file_on_the_hub_is_a_clear_404(hub, tmp_path, model_files):
    hub.add(REPO, "tiny-mmproj.gguf", model_files[1][1])  # the text file is not served
    job = manager(hub, tmp_path).start(entry_for(model_files))
    job.wait(60)
    assert isinstance(job.error, NotFoundOnHubError)
    assert "not on the Hub" in str(job.error)
    assert not hub.gets("tiny-mmproj.gguf"), "nothing is downloaded when a file of the pair is missing"
    assert Registry(tmp_path / "models").list() == []


def test_stalled_server_then_cancel_ends_the_download_and_removes_the_partial_file(
    hub, tmp_path, model_files, monkeypatch
):
    from huggingface_hub import constants

    # without the cancel reaching the blocked read, the job would hang for this long
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 600)
    job = start_until_the_server_stalls(hub, tmp_path, model_files)
    job.cancel()
    assert job.wait(60), "cancel must end a download that is waiting on a silent server"
    assert job.state == "cancelled" and job.error is None
    assert not list((tmp_path / "models" / "tiny-vlm").glob("*.part*"))
    assert Registry(tmp_path / "models").list() == []


def test_not_enough_disk_space_is_refused_before_any_byte_is_fetched(hub, tmp_path, model_files):
    # The Hub says the file is 1 PB: the real free space of the test's disk is checked, no fake.
    serve(hub, model_files)
    hub.files[(REPO, "tiny-text.gguf")].advertised_size = 10**15
    job = manager(hub, tmp_path).start(entry_for(model_files, sizes=False, sha=False))
    job.wait(60)
    assert isinstance(job.error, DiskSpaceError)
    assert "not enough disk space" in str(job.error) and "1000.0 TB" in str(job.error)
    assert [r.method for r in hub.log] == ["HEAD", "HEAD"]
    assert not list((tmp_path / "models" / "tiny-vlm").glob("*.part*"))


def test_offline_mode_says_downloads_need_a_network(hub, tmp_path, model_files, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    serve(hub, model_files)
    job = manager(hub, tmp_path).start(entry_for(model_files))
    job.wait(60)
    assert isinstance(job.error, OfflineError)
    assert "need a network connection" in str(job.error)
    assert hub.log == []


def test_gated_repo_needs_a_token(hub, tmp_path, model_files):
    serve(hub, model_files, token="hf_secret")
    job = manager(hub, tmp_path).start(entry_for(model_files))
    job.wait(60)
    assert isinstance(job.error, AccessDeniedError) and "token" in str(job.error)

    installed = manager(hub, tmp_path, token="hf_secret").download(entry_for(model_files))
    assert Path(installed.text).read_bytes() == model_files[0][1]


def test_several_downloads_run_at_once(hub, tmp_path, model_files):
    other = [("other-text.gguf", model_files[0][1]), ("other-mmproj.gguf", model_files[1][1])]
    serve(hub, model_files, stall_after=STALL)
    serve(hub, other, repo="stagelens-test/other-GGUF", stall_after=STALL)
    both_running = threading.Event()
    seen: dict[str, int] = {}

    def watch(event):
        seen[event.model_id] = event.files[0].done
        if len(seen) == 2 and all(v >= STALL for v in seen.values()):
            both_running.set()
            hub.release.set()  # let both finish

    events = Events()
    events.hooks.append(watch)
    mgr = manager(hub, tmp_path, events, event_interval=0.0)
    a = mgr.start(entry_for(model_files))
    b = mgr.start(entry_for(other, model_id="other-vlm", repo="stagelens-test/other-GGUF"))
    assert both_running.wait(60), "both downloads must be receiving bytes at the same time"
    # the stalled responses end without the rest of the body; each job resumes where it stopped
    assert a.wait(60) and b.wait(60)
    assert (a.state, b.state) == ("done", "done")
    assert {m.id for m in Registry(tmp_path / "models").list()} == {"tiny-vlm", "other-vlm"}


def test_cancel_after_pause_deletes_the_partial_file(hub, tmp_path, model_files):
    job = start_until_the_server_stalls(hub, tmp_path, model_files)
    job.pause()
    assert job.wait(60) and job.state == "paused"
    part = tmp_path / "models" / "tiny-vlm" / "tiny-text.gguf.part"
    assert part.stat().st_size == STALL
    assert partial_downloads(tmp_path / "models") == [part]
    job.cancel()
    assert job.state == "cancelled" and not part.exists() and not partial_downloads(tmp_path / "models")


def test_cli_download_prints_progress_and_installs(hub, tmp_path, model_files, monkeypatch, capsys):
    from stagelens.cli import main

    serve(hub, model_files)
    e = entry_for(model_files)
    catalog = tmp_path / "catalog.json"
    write_catalog(catalog, e, checksums=False)
    monkeypatch.setenv("STAGELENS_CATALOG", str(catalog))
    monkeypatch.setenv("STAGELENS_MODELS_DIR", str(tmp_path / "cli-models"))
    assert main(["models", "download", "tiny-vlm", "--endpoint", hub.url]) == 0
    captured = capsys.readouterr()
    assert "installed tiny-vlm" in captured.out
    assert "tiny-vlm: downloading" in captured.err and "tiny-vlm: done" in captured.err
    assert main(["models", "list"]) == 0
    assert " * tiny-vlm" in capsys.readouterr().out


def test_unreachable_hub_says_downloads_need_a_network(tmp_path, model_files):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mgr = DownloadManager(folder=tmp_path / "models", endpoint=f"http://127.0.0.1:{port}")
    job = mgr.start(entry_for(model_files))
    assert job.wait(60)
    assert isinstance(job.error, NetworkError) and "need a network connection" in str(job.error)


def test_a_changed_file_on_the_hub_is_not_downloaded(hub, tmp_path, model_files):
    serve(hub, model_files)
    hub.files[(REPO, "tiny-text.gguf")].advertised_size = len(model_files[0][1]) + 10
    job = manager(hub, tmp_path).start(entry_for(model_files))
    assert job.wait(60)
    assert isinstance(job.error, ChecksumError) and "different tiny-text.gguf" in str(job.error)
    assert not hub.gets("tiny-text.gguf")


def test_progress_reports_speed_and_time_left_while_bytes_arrive(hub, tmp_path, model_files):
    serve(hub, model_files, chunk=CHUNK, delay=0.005)  # a slow link: many chunks, each a moment apart
    events = Events()
    manager(hub, tmp_path, events, event_interval=0.0).download(entry_for(model_files))
    moving = [
        f
        for e in events.items
        if e.state == "downloading"
        for f in e.files
        if f.state == "downloading" and f.speed > 0 and f.eta is not None
    ]
    assert moving, "some progress event must carry a speed and a time left"
    text = moving[-1].describe()
    assert "/s" in text and "left" in text


def test_speed_falls_while_the_server_is_silent_and_then_says_waiting(hub, tmp_path, model_files):
    from stagelens.models.download_progress import STALLED_AFTER

    job = start_until_the_server_stalls(hub, tmp_path, model_files)
    last = job._bytes_at[0]
    at_last, later = job.event(now=last + 0.01).files[0], job.event(now=last + STALLED_AFTER / 2).files[0]
    assert at_last.speed > later.speed > 0, "a silent server must not keep the last burst's speed"
    assert later.eta > at_last.eta
    silent = job.event(now=last + STALLED_AFTER + 0.5).files[0]
    assert silent.speed == 0 and silent.eta is None
    assert "waiting for the server" in silent.describe() and "/s" not in silent.describe()
    job.cancel()
    assert job.wait(60)


def _until(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _two_quants(model_files) -> CatalogEntry:
    from dataclasses import replace

    text = model_files[0][1]
    entry = entry_for(model_files)
    q8 = CatalogFile("tiny-text-q8.gguf", len(text), hashlib.sha256(text).hexdigest())
    return replace(entry, quants={"F32": entry.quants["F32"], "Q8_0": q8})


def test_two_quants_of_one_model_share_the_projector_download(hub, tmp_path, model_files):
    entry = _two_quants(model_files)
    serve(hub, [*model_files, ("tiny-text-q8.gguf", model_files[0][1])])
    hub.files[(REPO, "tiny-mmproj.gguf")].stall_after = STALL
    events = Events()
    mgr = manager(hub, tmp_path, events, event_interval=0.0)
    a = mgr.start(entry, "F32")
    assert _until(lambda: a.files[1].done >= STALL), "the first download reaches the projector"
    b = mgr.start(entry, "Q8_0")
    assert _until(lambda: b.files[1].state == "waiting" or b.finished), b.message
    assert b.files[1].state == "waiting", "the second quantization must wait for the projector being fetched"
    hub.release.set()
    assert a.wait(60) and b.wait(60)
    assert (a.state, b.state) == ("done", "done"), (a.message, b.message)
    mmproj = tmp_path / "models" / "tiny-vlm" / "tiny-mmproj.gguf"
    assert hashlib.sha256(mmproj.read_bytes()).hexdigest() == entry.mmproj.sha256
    assert sum(r.sent for r in hub.gets("tiny-mmproj.gguf")) == len(model_files[1][1]), "fetched once"
    assert {m.id for m in Registry(tmp_path / "models").list()} == {"tiny-vlm", "tiny-vlm-q8_0"}


def test_disk_check_counts_the_bytes_other_downloads_still_need(hub, tmp_path, model_files):
    from stagelens.models.download import DISK_HEADROOM

    other = [("other-text.gguf", model_files[0][1]), ("other-mmproj.gguf", model_files[1][1])]
    serve(hub, model_files, stall_after=STALL)
    serve(hub, other, repo="stagelens-test/other-GGUF")
    pair = sum(len(data) for _name, data in model_files)
    free = pair + DISK_HEADROOM + 1000  # room for one model at a time, not two
    events = Events()
    arrived = threading.Event()
    events.hooks.append(lambda e: e.model_id == "tiny-vlm" and e.files[0].done >= STALL and arrived.set())
    mgr = manager(hub, tmp_path, events, event_interval=0.0, free_space=lambda _p: free)
    first = mgr.start(entry_for(model_files))
    assert arrived.wait(60)
    second = mgr.start(entry_for(other, model_id="other-vlm", repo="stagelens-test/other-GGUF"))
    assert second.wait(60)
    assert isinstance(second.error, DiskSpaceError)
    assert "other downloads still need" in str(second.error)
    assert not hub.gets("other-text.gguf"), "nothing is fetched when the space is taken"

    hub.release.set()
    assert first.wait(60) and first.state == "done"
    assert second.resume().wait(60) and second.state == "done", "with the first one finished it fits"
