"""The curated model catalog (models/catalog.json): load, validate, look up, estimate memory."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import bundled

CATALOG_NAME = "catalog.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# llama.cpp compute buffers and runtime, on top of weights and KV cache (a rough allowance)
OVERHEAD_BYTES = 400_000_000


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogFile:
    file: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class MemoryEstimate:
    n_ctx: int
    weights_bytes: int | None
    kv_bytes: int | None
    total_bytes: int | None  # RAM on CPU; VRAM when every layer and the projector are offloaded


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    family: str
    description: str
    repo: str
    revision: str
    license: str
    params: str
    default_quant: str
    quants: dict[str, CatalogFile]
    mmproj: CatalogFile
    arch: dict
    context: int
    stage_format_trained: bool
    checked: str
    approx_size_mb: int | None = None

    def files(self, quant: str | None = None) -> tuple[CatalogFile, CatalogFile]:
        """(text file, mmproj file) for a quantization (the default one when None)."""
        q = quant or self.default_quant
        if q not in self.quants:
            raise CatalogError(f"{self.id} has no {q} quantization (available: {', '.join(self.quants)})")
        return self.quants[q], self.mmproj

    def download_size(self, quant: str | None = None) -> int | None:
        text, mmproj = self.files(quant)
        if text.size is None or mmproj.size is None:
            return self.approx_size_mb * 1_000_000 if self.approx_size_mb else None
        return text.size + mmproj.size

    def kv_bytes_per_token(self) -> int | None:
        a = self.arch
        if not all(a.get(k) for k in ("n_layer", "n_kv_head", "head_dim")):
            return None
        return 2 * a["n_layer"] * a["n_kv_head"] * a["head_dim"] * 2

    def memory_estimate(self, quant: str | None = None, n_ctx: int | None = None) -> MemoryEstimate:
        ctx = n_ctx or self.context
        weights = self.download_size(quant)
        per_token = self.kv_bytes_per_token()
        kv = per_token * ctx if per_token else None
        total = weights + kv + OVERHEAD_BYTES if weights is not None and kv is not None else None
        return MemoryEstimate(ctx, weights, kv, total)


def catalog_path() -> Path:
    path = bundled("STAGELENS_CATALOG", f"models/{CATALOG_NAME}", Path.is_file)
    if path is not None:
        return path
    raise CatalogError("the model catalog (models/catalog.json) is missing from this installation")


def _file(data: object, where: str) -> CatalogFile:
    if not isinstance(data, dict) or not isinstance(data.get("file"), str) or not data["file"].endswith(".gguf"):
        raise CatalogError(f"{where}: needs a 'file' ending in .gguf")
    size, sha = data.get("size"), data.get("sha256")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise CatalogError(f"{where}: 'size' must be a positive byte count or null")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha)):
        raise CatalogError(f"{where}: 'sha256' must be 64 lowercase hex digits or null")
    return CatalogFile(data["file"], size, sha)


_REQUIRED = ("id", "name", "family", "description", "repo", "license", "default_quant", "quants", "mmproj", "checked")


def _entry(data: dict, index: int) -> CatalogEntry:
    where = f"catalog entry {data.get('id', index)!s}"
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", data["id"]):
        raise CatalogError(f"{where}: id must be lowercase letters, digits, '.' and '-'")
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", data["repo"]):
        raise CatalogError(f"{where}: repo must look like owner/name")
    if not isinstance(data["quants"], dict) or not data["quants"]:
        raise CatalogError(f"{where}: needs at least one quantization")
    quants = {q: _file(f, f"{where} quant {q}") for q, f in data["quants"].items()}
    if data["default_quant"] not in quants:
        raise CatalogError(f"{where}: default_quant {data['default_quant']} is not among its quants")
    if not isinstance(data.get("stage_format_trained"), bool):
        raise CatalogError(f"{where}: stage_format_trained must be true or false")
    return CatalogEntry(
        id=data["id"],
        name=data["name"],
        family=data["family"],
        description=data["description"],
        repo=data["repo"],
        revision=data.get("revision") or "main",
        license=data["license"],
        params=data.get("params", "?"),
        default_quant=data["default_quant"],
        quants=quants,
        mmproj=_file(data["mmproj"], f"{where} mmproj"),
        arch=dict(data.get("arch") or {}),
        context=int(data.get("context") or 4096),
        stage_format_trained=data["stage_format_trained"],
        checked=data["checked"],
        approx_size_mb=data.get("approx_size_mb"),
    )


def load_catalog(path: str | Path | None = None) -> list[CatalogEntry]:
    p = Path(path) if path is not None else catalog_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read the model catalog {p}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CatalogError(f"the model catalog {p} is not valid JSON ({exc})") from exc
    entries = [_entry(m, i) for i, m in enumerate(data.get("models", []))]
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"the model catalog lists {', '.join(duplicates)} more than once")
    return entries


def find_entry(model_id: str, entries: list[CatalogEntry] | None = None) -> CatalogEntry:
    entries = load_catalog() if entries is None else entries
    for entry in entries:
        if entry.id == model_id:
            return entry
    raise CatalogError(f"no catalog model is called {model_id!r} (see `stagelens models list`)")
