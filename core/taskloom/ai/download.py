"""DownloadModel under CPython: fetch a model folder over HTTP into the models directory.

    onnx:Xenova/all-MiniLM-L6-v2:q8  →  <models_dir>/downloads/Xenova/all-MiniLM-L6-v2/

The folder's base URL is the input's ``url``, else the Hugging Face
repository the name spells (``https://huggingface.co/<name>/resolve/main/``):
nothing reaches a hub unless the user names a remote model. The files are
the Hugging Face layout Transformers.js reads: ``config.json``,
``tokenizer.json`` and the weights of the variant (``onnx/model_quantized.onnx``
for q8, ``onnx/model.onnx`` for fp32) are required; ``tokenizer_config.json``,
``special_tokens_map.json`` and ``generation_config.json`` are fetched when
the server has them. ``files`` replaces that list (all required).

Sizes come first (HEAD), so progress is by bytes of the whole folder. Each
file is written to ``.part`` and renamed when complete; a manifest written
last marks the folder complete, and a complete folder is not fetched again.

CPython-only: urllib has no asyncio API, so each blocking request and read
runs through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ModelDownloadError, ModelInputError
from ..storage.models import ModelRecord, split_model_id
from .catalog import tasks_from_config
from .onnx_local import ONNX_FILES
from .providers import ModelCall

HUGGING_FACE = "https://huggingface.co/{name}/resolve/main/"
MANIFEST = ".taskloom-download.json"
REQUIRED = ("config.json", "tokenizer.json")
OPTIONAL = ("tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
CHUNK = 256 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def folder_for(model_id: str, models_dir: Path) -> Path:
    """Where ``model_id``'s files go (the name's path under ``downloads/``)."""
    _, name, _ = split_model_id(model_id)
    if not _SAFE_NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise ModelInputError(f"model name {name!r} cannot be a folder: use letters, digits, "
                              "'.', '_', '-' and '/' between parts")
    return models_dir / "downloads" / name


def downloaded_record(model_id: str, models_dir: Path) -> ModelRecord | None:
    """The record of a completed download of ``model_id``, or None if there is none."""
    folder = folder_for(model_id, models_dir)
    manifest = _read_manifest(folder)
    if manifest is None:
        return None
    return ModelRecord(
        model_id,
        tasks=tuple(manifest.get("tasks") or ()),
        location=str(folder.relative_to(models_dir)),
        dtype=split_model_id(model_id)[2],
        metadata={"source": manifest.get("base_url"), "bytes": sum(manifest["files"].values())},
    )


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return None  # a file went missing or changed: fetch again
    return manifest


def _folder_tasks(folder: Path) -> list[str]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return tasks_from_config(config)


def wanted_files(files: list[str] | None, variant: str) -> tuple[list[str], list[str]]:
    """(required, optional) files of a download: ``files`` if given, else the variant's."""
    if files:
        for file in files:
            parts = file.replace("\\", "/").split("/")
            if not file or file.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise ModelInputError(f"file {file!r} must be a plain relative path inside "
                                      "the model folder, like 'onnx/model.onnx'")
        return list(files), []
    if variant not in ONNX_FILES:
        raise ModelInputError(f"variant {variant!r} names no weights file: use "
                              f"{' or '.join(ONNX_FILES)}, or list the files to fetch")
    return [*REQUIRED, f"onnx/{ONNX_FILES[variant]}"], list(OPTIONAL)


def _url(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + quote(name)


def _head(url: str) -> int | None:
    """The file's size; None if the server has no such file (404)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else 0  # 0: unknown until read
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise _failed(url, exc) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _failed(url, exc) from exc


def _failed(url: str, exc: BaseException) -> ModelDownloadError:
    error = ModelDownloadError(f"cannot fetch {url}: {exc}", url=url)
    if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code != 429:
        error.retryable = False  # type: ignore[attr-defined]  # asking again gives the same answer
    return error


async def download(call: ModelCall) -> Path:
    """Fetch ``call.record``'s files (see the module docstring); return the folder."""
    model_id = call.record.id
    _, name, variant = split_model_id(model_id)
    given = call.input  # DownloadModel.Input
    folder = folder_for(model_id, call.models_dir)
    if _read_manifest(folder) is not None:
        call.progress(1.0, "cached")
        return folder
    base = given.url or HUGGING_FACE.format(name=name)
    required, optional = wanted_files(given.files, variant)
    sizes: dict[str, int] = {}
    for file in [*required, *optional]:
        size = await asyncio.to_thread(_head, _url(base, file))
        if size is None:
            if file in required:
                missing = ModelDownloadError(f"{_url(base, file)} does not exist (404): is "
                                             f"{base} a model folder with {file}?",
                                             url=_url(base, file))
                missing.retryable = False  # type: ignore[attr-defined]
                raise missing
            continue
        sizes[file] = size
    total = sum(sizes.values()) or 1
    done = 0
    call.progress(0.0, f"0/{total} bytes")
    for file, size in sizes.items():
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        response = await asyncio.to_thread(_open, _url(base, file))
        try:
            with partial.open("wb") as out:
                while chunk := await asyncio.to_thread(response.read, CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    call.progress(min(done / total, 1.0), f"{done}/{total} bytes")
        finally:
            response.close()
        got = partial.stat().st_size
        if size and got != size:
            partial.unlink()
            raise ModelDownloadError(f"{_url(base, file)} ended after {got} of {size} bytes",
                                     url=_url(base, file))
        sizes[file] = got  # a server that gave no length: what arrived is the file
        partial.replace(target)
    tasks = given.tasks or _folder_tasks(folder)
    manifest = {"model": model_id, "base_url": base, "files": sizes, "tasks": tasks}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    call.progress(1.0, f"{done}/{total} bytes")
    return folder


def _open(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise _failed(url, exc) from exc
