"""What stops a download: the errors a user reads (one sentence each), from huggingface-hub's and httpx's."""

from __future__ import annotations

import os


class DownloadError(Exception):
    """A download that cannot go on; str() is a one-sentence user message."""


class OfflineError(DownloadError):
    pass


class NetworkError(DownloadError):
    pass


class NotFoundOnHubError(DownloadError):
    pass


class AccessDeniedError(DownloadError):
    pass


class ChecksumError(DownloadError):
    pass


class DiskSpaceError(DownloadError):
    pass


class StopDownload(Exception):
    """Raised inside huggingface-hub's download loop to pause or cancel it."""


def translate_error(exc: Exception, endpoint: str | None) -> DownloadError:
    """huggingface-hub / httpx errors as one-sentence messages."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = endpoint or os.environ.get("HF_ENDPOINT") or "huggingface.co"
    if isinstance(exc, OfflineModeIsEnabled):
        return OfflineError("downloads need a network connection, and offline mode is on (HF_HUB_OFFLINE)")
    if isinstance(exc, GatedRepoError):
        return AccessDeniedError(
            "this model is gated: accept its licence on its Hugging Face page, then give a token "
            "(the Hub token field of the Models window, --token, or the HF_TOKEN environment variable)"
        )
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    file = str(request.url).rsplit("/", 1)[-1] if request is not None else "the file"
    if isinstance(exc, EntryNotFoundError):
        return NotFoundOnHubError(f"{file} is not on the Hub (404): the catalog needs updating")
    if isinstance(exc, RevisionNotFoundError):
        return NotFoundOnHubError("the pinned revision is not on the Hub any more; the catalog needs updating")
    if isinstance(exc, RepositoryNotFoundError):
        return AccessDeniedError(
            "the repository was not found, or it is private: check the name, or give a token (HF_TOKEN)"
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            return NotFoundOnHubError(f"{file} is not on the Hub (404)")
        if status in (401, 403):
            return AccessDeniedError("the Hub refused access: the model may be gated or private; give a token")
        return NetworkError(f"the Hub answered with an error ({status}): {_short(exc)}")
    name = type(exc).__name__
    if "Timeout" in name:
        return NetworkError(f"{where} stopped answering (timed out); resume to continue where it stopped")
    if "Connect" in name or isinstance(exc, ConnectionError):
        return NetworkError(f"cannot reach {where}: downloads need a network connection")
    if "Protocol" in name or "Read" in name or "Network" in name:
        return NetworkError(f"the connection to {where} broke; resume to continue where it stopped")
    if isinstance(exc, OSError):
        return DownloadError(f"cannot write the download: {exc.strerror or exc}")
    return DownloadError(f"download failed: {name}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 200 else text[:197] + "..."
