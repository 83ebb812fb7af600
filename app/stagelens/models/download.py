"""Download catalog models from the Hugging Face Hub, built on huggingface-hub.

huggingface-hub's own ``hf_hub_download`` writes to a temporary file that it deletes when a
download fails, so it cannot resume after the app is closed or killed. This module uses the
library's lower-level pieces instead (``hf_hub_url``, ``get_hf_file_metadata`` for the HEAD
request and ``http_get`` for the ranged GET) and keeps its own partial file:

    <models>/<model-id>/<file>.part        bytes received so far
    <models>/<model-id>/<file>.part.json   what they belong to (URL, ETag, size, commit)

A partial file is resumed with an HTTP Range request only while the Hub still serves the same
file (same ETag and size). Files are verified (size, and sha256 from the catalog or, failing
that, the LFS sha256 the Hub sends as ETag) before the ``.part`` suffix is dropped, and the
model is registered only after both files are in place and the projector fits the text model,
so a partial file is never mistaken for a complete one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stagelens.models.catalog import CatalogEntry, CatalogFile, find_entry
from stagelens.models.download_errors import (
    ChecksumError,
    DiskSpaceError,
    DownloadError,
    NetworkError,
    OfflineError,
    StopDownload,
    translate_error,
)
from stagelens.models.download_files import file_lock, part_paths
from stagelens.models.download_hooks import current_job, ensure_http_hooks, progress_class
from stagelens.models.download_job import DownloadJob
from stagelens.models.download_progress import (
    DownloadEvent,
    SpeedMeter,
)
from stagelens.models.gguf_info import ModelFileError, human_bytes
from stagelens.models.registry import InstalledModel, Registry

DISK_HEADROOM = 100_000_000  # keep this much free after the download
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class _Remote:
    url: str
    size: int
    etag: str | None
    commit: str | None
    sha256: str | None
    sha_source: str


@dataclass
class DownloadManager:
    """Runs downloads, each in its own thread; several at once. ``on_event`` is called from
    those threads with a DownloadEvent whenever a job's state or progress changes."""

    folder: Path = field(default=None)  # type: ignore[assignment]
    registry: Registry | None = None
    endpoint: str | None = None
    token: str | bool | None = None
    on_event: Callable[[DownloadEvent], None] | None = None
    free_space: Callable[[Path], int] = field(default=lambda p: shutil.disk_usage(p).free)
    event_interval: float = 0.1
    metadata_timeout: float = 10.0

    def __post_init__(self) -> None:
        self.registry = self.registry or Registry(self.folder)
        self.folder = Path(self.folder) if self.folder is not None else self.registry.folder
        self.jobs: list[DownloadJob] = []
        self._jobs_lock = threading.Lock()

    # -- public API ------------------------------------------------------------------------

    def start(self, model: str | CatalogEntry, quant: str | None = None) -> DownloadJob:
        entry = find_entry(model) if isinstance(model, str) else model
        quant = quant or entry.default_quant
        entry.files(quant)  # raises for an unknown quantization
        with self._jobs_lock:
            for job in self.jobs:
                if job.entry.id == entry.id and job.quant == quant and not job.finished:
                    return job
            job = DownloadJob(self, entry, quant)
            self.jobs.append(job)
        self._launch(job)
        return job

    def resume(self, job: DownloadJob) -> DownloadJob:
        if not job.finished or job.state not in ("paused", "failed"):
            return job
        job._stop_reason = None
        job.error = None
        job._finished.clear()
        self._launch(job)
        return job

    def download(self, model: str | CatalogEntry, quant: str | None = None) -> InstalledModel:
        """Blocking download (the CLI); raises DownloadError."""
        job = self.start(model, quant)
        job.wait()
        if job.error is not None:
            raise job.error
        if job.installed is None:
            raise DownloadError(f"download of {job.model_id} {job.state}")
        return job.installed

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Pause every running job (their partial files stay for next time) and wait for them."""
        for job in list(self.jobs):
            if not job.finished:
                job.pause()
        for job in list(self.jobs):
            job.wait(timeout)

    # -- the work --------------------------------------------------------------------------

    def _launch(self, job: DownloadJob) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=f"download-{job.entry.id}", daemon=True)
        job._thread = thread
        job._set_state("queued", "waiting to start")
        thread.start()

    def _run(self, job: DownloadJob) -> None:
        current_job.job = job
        try:
            self._run_job(job)
        except StopDownload as stop:
            self._stopped(job, str(stop))
        except DownloadError as exc:
            if job._stop_reason is not None:
                self._stopped(job, job._stop_reason)
            else:
                job.error = exc
                self._mark_files(job, "failed")
                job._set_state("failed", str(exc))
        except Exception as exc:  # anything from the network stack: as a message, never a crash
            if job._stop_reason is not None:
                self._stopped(job, job._stop_reason)
            else:
                job.error = translate_error(exc, self.endpoint)
                self._mark_files(job, "failed")
                job._set_state("failed", str(job.error))
        finally:
            job._forget_sockets()
            current_job.job = None
            job._finished.set()

    def _stopped(self, job: DownloadJob, reason: str) -> None:
        if reason == "cancel":
            self._discard_partials(job)
            self._mark_files(job, "cancelled")
            job._set_state("cancelled", "download cancelled")
        else:
            self._mark_files(job, "paused")
            job._set_state("paused", "resume continues from the bytes already received")

    def _mark_files(self, job: DownloadJob, state: str) -> None:
        for i, f in enumerate(job.files):
            if f.state not in ("done",):
                job._set_file(i, state=state, speed=0.0, eta=None)

    def _run_job(self, job: DownloadJob) -> None:
        from huggingface_hub import constants

        if constants.is_offline_mode():
            raise OfflineError(
                "downloads need a network connection, and offline mode is on (HF_HUB_OFFLINE): "
                "unset it to download, or import local files instead"
            )
        job._set_state("checking", "asking the Hub for file sizes")
        job.folder.mkdir(parents=True, exist_ok=True)
        remotes: list[_Remote | None] = []
        need = 0
        others = self._remaining_of_others(job)
        for i, (_role, spec) in enumerate(job.file_specs):
            final = job.folder / spec.file
            if final.is_file() and (spec.size is None or final.stat().st_size == spec.size):
                job._set_file(i, done=final.stat().st_size, total=final.stat().st_size, state="done")
                if spec.sha256 is None:  # fetched before, perhaps without a checksum: probed before it is used
                    job.unverified.add(spec.file)
                remotes.append(None)
                continue
            remote = self._remote(job, spec)
            have = self._partial_if_free(final, remote)
            job._set_file(i, total=remote.size, done=have, resumed_from=have)
            if final not in others:  # a file another download is fetching is counted there
                need += remote.size - have
            remotes.append(remote)
        self._check_space(job, need, sum(others.values()))
        for i, pending in enumerate(remotes):
            if pending is not None:
                self._fetch_once(job, i, pending)
        self._install(job)

    def _remaining_of_others(self, job: DownloadJob) -> dict[Path, int]:
        """Bytes the other running downloads still need, by file (a file two jobs share once)."""
        with self._jobs_lock:
            running = [j for j in self.jobs if j is not job and not j.finished]
        remaining: dict[Path, int] = {}
        for other in running:
            for path, left in other.remaining().items():
                remaining[path] = max(left, remaining.get(path, 0))
        return remaining

    def _check_space(self, job: DownloadJob, need: int, reserved: int) -> None:
        free = self.free_space(job.folder)
        if need + reserved + DISK_HEADROOM <= free:
            return
        others = f", and other downloads still need {human_bytes(reserved)} of it" if reserved else ""
        raise DiskSpaceError(
            f"not enough disk space in {job.folder}: {job.model_id} needs {human_bytes(need)} more "
            f"(plus {human_bytes(DISK_HEADROOM)} to spare) but only {human_bytes(free)} is free{others}"
        )

    def _partial_if_free(self, final: Path, remote: _Remote) -> int:
        """Like _usable_partial, but leaves alone a partial file another download is writing."""
        lock = file_lock(final)
        if not lock.acquire(blocking=False):
            return 0
        try:
            return self._usable_partial(final, remote)
        finally:
            lock.release()

    def _fetch_once(self, job: DownloadJob, index: int, remote: _Remote) -> None:
        """Fetch a file unless another download (another quantization sharing the projector) is
        already fetching it: then wait for that one and use its verified file."""
        final = job.folder / job.file_specs[index][1].file
        lock = file_lock(final)
        if not lock.acquire(blocking=False):
            job._set_file(index, state="waiting", speed=0.0, eta=None)
            job._set_state("downloading", f"waiting for another download of {final.name}")
            while not lock.acquire(timeout=0.2):
                if job._stop_reason is not None:
                    raise StopDownload(job._stop_reason)
        try:
            if final.is_file() and final.stat().st_size == remote.size:
                job._set_file(index, state="done", done=remote.size, total=remote.size, speed=0.0, eta=0.0)
                self._emit(job)
                return
            self._usable_partial(final, remote)  # what the other download left may be stale now
            self._fetch(job, index, remote)
        finally:
            lock.release()

    def _remote(self, job: DownloadJob, spec: CatalogFile) -> _Remote:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(job.entry.repo, spec.file, revision=job.entry.revision, endpoint=self.endpoint)
        ensure_http_hooks()
        try:
            meta = get_hf_file_metadata(url, token=self.token, timeout=self.metadata_timeout, endpoint=self.endpoint)
        finally:
            job._forget_sockets()
        if meta.size is None:
            raise NetworkError(f"the Hub did not say how large {spec.file} is; try again later")
        if spec.size is not None and meta.size != spec.size:
            raise ChecksumError(
                f"the Hub now serves a different {spec.file} ({meta.size} bytes, the catalog expects "
                f"{spec.size}): not downloading a file that cannot be verified"
            )
        etag = (meta.etag or "").strip('"').lower() or None
        if spec.sha256:
            sha, source = spec.sha256, "catalog"
        elif etag and _SHA256.match(etag):
            sha, source = etag, "hub"  # LFS files: the ETag is the content's sha256
        else:
            sha, source = None, "none"
        return _Remote(url, meta.size, etag, meta.commit_hash, sha, source)

    def _usable_partial(self, final: Path, remote: _Remote) -> int:
        """Bytes of an earlier partial download that belong to the file the Hub serves now."""
        part, sidecar = part_paths(final)
        if not part.exists():
            sidecar.unlink(missing_ok=True)
            return 0
        try:
            saved = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        size = part.stat().st_size
        same_file = saved.get("etag") == remote.etag and saved.get("size") == remote.size
        if not same_file or size > remote.size:
            part.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return 0
        return size

    def _fetch(self, job: DownloadJob, index: int, remote: _Remote) -> None:
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        spec = job.file_specs[index][1]
        final = job.folder / spec.file
        part, sidecar = part_paths(final)
        sidecar.write_text(
            json.dumps({"url": remote.url, "etag": remote.etag, "size": remote.size, "commit": remote.commit}),
            encoding="utf-8",
        )
        have = part.stat().st_size if part.exists() else 0
        job._set_file(index, state="downloading", done=have, total=remote.size, resumed_from=have)
        job._set_state("downloading", f"downloading {spec.file}")
        speed = job._speeds[index] = SpeedMeter()
        last_emit = [0.0]

        def on_bytes(n: int) -> None:
            now = time.monotonic()
            rate = speed.add(now, n)
            eta = (remote.size - n) / rate if rate > 0 else None
            job._bytes_at[index] = now
            job._set_file(index, done=n, speed=rate, eta=eta)
            if now - last_emit[0] >= self.event_interval or n >= remote.size:
                last_emit[0] = now
                self._emit(job)

        speed.add(time.monotonic(), have)
        job._bytes_at[index] = time.monotonic()
        headers = build_hf_headers(token=self.token)
        ensure_http_hooks()
        try:
            with part.open("ab") as fh:
                http_get(
                    remote.url,
                    fh,
                    resume_size=have,
                    headers=headers,
                    expected_size=remote.size,
                    displayed_filename=spec.file,
                    tqdm_class=progress_class(job, index, on_bytes),
                )
        except StopDownload:
            raise
        except OSError as exc:
            if job._stop_reason is not None:
                raise StopDownload(job._stop_reason) from exc
            if "Consistency check failed" in str(exc):
                raise NetworkError(f"the connection broke while downloading {spec.file}; resume to continue") from exc
            raise
        finally:
            job._forget_sockets()
        if job._stop_reason is not None:
            raise StopDownload(job._stop_reason)
        self._verify(job, index, part, remote)
        part.replace(final)
        sidecar.unlink(missing_ok=True)
        job._set_file(index, state="done", speed=0.0, eta=0.0, done=remote.size)
        self._emit(job)

    def _verify(self, job: DownloadJob, index: int, part: Path, remote: _Remote) -> None:
        size = part.stat().st_size
        name = job.file_specs[index][1].file
        if size != remote.size:
            raise NetworkError(f"{name} stopped at {size} of {remote.size} bytes; resume to continue")
        if remote.sha256 is None:
            job.unverified.add(name)
            job._set_file(index, state="verifying")
            job._set_state("verifying", f"{name}: no checksum published, size checked")
            return
        job._set_file(index, state="verifying")
        job._set_state("verifying", f"checking the sha256 of {name}")
        digest = hashlib.sha256()
        with part.open("rb") as fh:
            while chunk := fh.read(4 << 20):
                if job._stop_reason is not None:
                    raise StopDownload(job._stop_reason)
                digest.update(chunk)
        if digest.hexdigest() != remote.sha256:
            part.unlink(missing_ok=True)
            part_paths(job.folder / name)[1].unlink(missing_ok=True)
            source = "the catalog" if remote.sha_source == "catalog" else "the Hub"
            raise ChecksumError(
                f"{name} is corrupt: its sha256 does not match the one {source} gives; "
                "the partial file was deleted, download it again"
            )

    def _install(self, job: DownloadJob) -> None:
        from stagelens.models.pairing import check_pair
        from stagelens.models.probe import DamagedFileError, probe_model_files

        text = job.folder / job.file_specs[0][1].file
        mmproj = job.folder / job.file_specs[1][1].file
        try:
            pair = check_pair(text, mmproj)
            if job.unverified:  # no checksum was published: the size says nothing about the tensor data
                job._set_state("verifying", "no checksum published: checking that the weights compute numbers")
                probe_model_files(text, mmproj)
        except DamagedFileError as exc:
            assert self.registry is not None
            if any(str(exc.path) in (m.text, m.mmproj) for m in self.registry.list()):
                raise DownloadError(f"{exc} (another installed model uses it: it was kept)") from exc
            exc.path.unlink(missing_ok=True)  # so that downloading again fetches it again
            raise DownloadError(f"{exc} (the downloaded file was deleted: download again)") from exc
        except ModelFileError as exc:
            raise DownloadError(f"the downloaded files cannot be used: {exc}") from exc
        model = InstalledModel(
            id=job.model_id,
            name=f"{job.entry.name} ({job.quant})",
            text=str(text),
            mmproj=str(mmproj),
            source="catalog",
            quant=job.quant,
            repo=job.entry.repo,
            owns_files=True,
            stage_format_trained=job.entry.stage_format_trained,
            metadata={
                "text": pair.text.to_json(),
                "mmproj": pair.mmproj.to_json(),
                "license": job.entry.license,
                "revision": job.entry.revision,
            },
        )
        assert self.registry is not None
        self.registry.add(model)
        job.installed = model
        job._set_state("done", f"{job.entry.name} is installed")

    def _discard_partials(self, job: DownloadJob) -> None:
        for _role, spec in job.file_specs:
            final = job.folder / spec.file
            lock = file_lock(final)
            if not lock.acquire(blocking=False):
                continue  # another download is writing this partial file: it is not ours to delete
            try:
                for path in part_paths(final):
                    path.unlink(missing_ok=True)
            finally:
                lock.release()

    def _emit(self, job: DownloadJob) -> None:
        if self.on_event is not None:
            # RuntimeError: the window that listened is gone; the download goes on
            with contextlib.suppress(RuntimeError):
                self.on_event(job.event())
