"""The models this engine can run, for the page's Models panel and the inspector's model picker.

``list_models`` answers one entry per model a registered provider can run:

    {"id": "onnx:all-MiniLM-L6-v2:q8", "provider": "onnx", "task": ["TextEmbedding", …],
     "local": true, "cached": true, "size_bytes": 23638..., "stored": "site",
     "location": "all-MiniLM-L6-v2"}

- ``task`` lists every task type the model serves (a picker filters with
  ``task.includes(type)``).
- ``local``: it runs on this machine (no API); cloud models answer
  ``cached: null, size_bytes: null`` and ``key_set`` (whether the Settings
  panel gave the engine a key or a base URL for that vendor, never the key).
- ``cached``: every file the model needs is stored on this machine. In the
  browser that is Cache Storage: the downloads cache (``taskloom-models``,
  ``stored: "downloads"``) or the service worker's copy of the site
  (``stored: "site"``), so the model runs with the server gone; under
  CPython, the folder is on disk.
- ``size_bytes``: what those files weigh (a folder's other weights variant
  is not counted); null when unknown.
- ``device``: for a local model loaded in this engine, where it runs
  (``{"device": "webgpu" | "wasm", "preference", "fallback", "adapter"}``,
  from web/models.js; ``fallback`` says why WebGPU was not used); null
  before its first call, and always under CPython.

The listing is split from where the files are: a *probe* answers a
record's files and whether they are stored. ``FolderProbe`` reads the
models directory (CPython, and the tests); ``BrowserProbe`` reads the
site's ``site-manifest.json`` and Cache Storage (Pyodide only: ``js`` is
imported inside its methods).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol

from ..ai.catalog import LOCAL_PROVIDERS, ModelCatalog
from ..ai.onnx_local import ONNX_FILES
from ..ai.providers import ProviderRegistry
from ..errors import ModelNotFoundError
from ..storage.models import ModelRecord, split_model_id

#: Where fastText's model is when its record names no folder (the site's copy).
FASTTEXT_DEFAULT = "lid.176/lid.176.ftz"


def runnable(record: ModelRecord, registry: ProviderRegistry) -> bool:
    """Whether some task the record serves has a run function for its provider here."""
    return any((task, record.provider) in registry for task in record.tasks)


def needed(record: ModelRecord, listing: dict[str, int | None]) -> dict[str, int | None]:
    """The files of the record's folder that it loads: every file but the weights of the
    folder's other variants (a folder may hold both fp32 and q8)."""
    if record.provider != "onnx":
        return dict(listing)
    own = ONNX_FILES.get(record.dtype or record.variant)
    others = {f"onnx/{name}" for variant, name in ONNX_FILES.items() if name != own}
    return {file: size for file, size in listing.items() if file not in others}


def _weights(record: ModelRecord) -> str:
    return f"onnx/{ONNX_FILES.get(record.dtype or record.variant, '')}"


class Probe(Protocol):
    async def files(self, record: ModelRecord) -> dict[str, int | None] | None:
        """The record's files (relative path → bytes, None if unknown); None: not found."""

    async def stored(self, record: ModelRecord, files: list[str]) -> str | None:
        """Where every one of ``files`` is kept on this machine, or None if one is not."""

    def device(self, record: ModelRecord) -> dict[str, Any] | None:
        """Where the record's model runs once it is loaded here, else None."""


def entry(record: ModelRecord, *, files: dict[str, int | None] | None,
          stored: str | None, key_set: bool | None = None,
          device: dict[str, Any] | None = None) -> dict[str, Any]:
    local = record.provider in LOCAL_PROVIDERS
    item: dict[str, Any] = {
        "id": record.id,
        "provider": record.provider,
        "task": list(record.tasks),
        "local": local,
        "cached": (stored is not None) if local else None,
        "size_bytes": None,
        "location": record.location,
    }
    if local:
        item["stored"] = stored
        item["device"] = device
        if files:
            sizes = needed(record, files).values()
            item["size_bytes"] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    else:
        item["key_set"] = bool(key_set)
    for key in ("note", "licence", "dimensions", "context"):
        if key in record.metadata:
            item[key] = record.metadata[key]
    return item


async def list_models(catalog: ModelCatalog, registry: ProviderRegistry, probe: Probe,
                      cloud_keys: dict[str, bool] | None = None) -> list[dict[str, Any]]:
    """Every model a registered provider can run, local ones first, each sorted by id."""
    keys = cloud_keys or {}
    entries = []
    for record in catalog.records():
        if not runnable(record, registry):
            continue  # no run function for it in this runtime: no use listing it
        if record.provider in LOCAL_PROVIDERS:
            listing = await probe.files(record)
            wanted = sorted(needed(record, listing)) if listing else []
            where = await probe.stored(record, wanted)
            entries.append(entry(record, files=listing, stored=where,
                                 device=probe.device(record)))
        else:
            entries.append(entry(record, files=None, stored=None,
                                 key_set=keys.get(record.provider)))
    entries.sort(key=lambda item: (not item["local"], item["id"]))
    return entries


# -- CPython: the models directory ----------------------------------------------------


class FolderProbe:
    """A record's folder as ``ModelCatalog.locate`` finds it on disk."""

    def __init__(self, catalog: ModelCatalog) -> None:
        self.catalog = catalog

    def _folder(self, record: ModelRecord) -> Path | None:
        try:
            return self.catalog.locate(record)
        except ModelNotFoundError:
            return None  # not on this machine (or shipped inside a package)

    async def files(self, record: ModelRecord) -> dict[str, int | None] | None:
        folder = self._folder(record)
        if folder is None:
            return None
        return {path.relative_to(folder).as_posix(): path.stat().st_size
                for path in sorted(folder.rglob("*")) if path.is_file()}

    async def stored(self, record: ModelRecord, files: list[str]) -> str | None:
        if not record.location:
            return "package"  # the provider reads the files its installed package ships
        folder = self._folder(record)
        if folder is None or not files or not all((folder / file).is_file() for file in files):
            return None
        return "disk"

    def device(self, record: ModelRecord) -> dict[str, Any] | None:
        return None  # onnxruntime's CPU provider: there is no choice to show


# -- the browser: the site's files and Cache Storage ---------------------------------


class BrowserProbe:
    """A record's files from the site's manifest or its download's manifest, their sizes
    from Cache Storage (else a HEAD request to the site), and where they are stored."""

    SITE_CACHE_PREFIX = "taskloom-site-"  # web/sw.js names its precache so

    def __init__(self) -> None:
        self._site_files: list[str] | None = None

    @staticmethod
    def _base() -> str:
        from .transformers_provider import models_url

        return models_url()

    def folder_of(self, record: ModelRecord) -> tuple[str, str | None]:
        """(folder under models/, the one file to take or None for the whole folder)."""
        location = record.location
        base = self._base()
        if location.startswith(base):
            location = location[len(base):]
        if record.provider == "fasttext":
            location = location or FASTTEXT_DEFAULT
            if location.endswith(".ftz"):
                folder, _, file = location.rpartition("/")
                return folder.strip("/") + "/", file
            return location.strip("/") + "/", "lid.176.ftz"
        return location.strip("/") + "/", None

    async def _site_listing(self) -> list[str]:
        if self._site_files is None:
            import js

            from .transformers_provider import site_url

            try:
                response = await js.fetch(site_url() + "site-manifest.json")
                manifest = json.loads(await response.text()) if response.ok else {}
            except Exception:  # no manifest (a bare server): the site lists no model files
                manifest = {}
            self._site_files = sorted(manifest.get("files", {}))
        return self._site_files

    async def _download_manifest(self, folder: str) -> dict[str, Any] | None:
        import js

        from .transformers_provider import DOWNLOADS_CACHE, MANIFEST

        cache = await js.caches.open(DOWNLOADS_CACHE)
        hit = await cache.match(self._base() + folder + MANIFEST)
        return json.loads(await hit.text()) if hit else None

    async def _size(self, url: str) -> int | None:
        import js

        hit = await js.caches.match(url)
        if hit:
            length = hit.headers.get("content-length")
            return int(length) if length else int((await hit.blob()).size)
        try:
            response = await js.fetch(url, _js_object({"method": "HEAD"}))
        except Exception:  # offline and not stored: unknown
            return None
        length = response.headers.get("content-length") if response.ok else None
        return int(length) if length else None

    async def files(self, record: ModelRecord) -> dict[str, int | None] | None:
        folder, only = self.folder_of(record)
        manifest = await self._download_manifest(folder)
        if manifest is not None:
            listing = {file: int(size) for file, size in manifest.get("files", {}).items()}
            # A download of the folder's other variant lacks this one's weights: those
            # come from the site, if it has them.
            if only is None and record.provider == "onnx" and _weights(record) not in listing:
                manifest = None
            else:
                return {only: listing.get(only)} if only else listing
        prefix = "models/" + folder
        names = [path[len(prefix):] for path in await self._site_listing()
                 if path.startswith(prefix)]
        if only:
            names = [name for name in names if name == only]
        if not names:
            return None
        wanted = needed(record, dict.fromkeys(names))
        return {name: await self._size(self._base() + folder + name) for name in wanted}

    async def stored(self, record: ModelRecord, files: list[str]) -> str | None:
        import js

        from .transformers_provider import DOWNLOADS_CACHE

        if not files:
            return None
        folder, _ = self.folder_of(record)
        base = self._base() + folder
        downloads = await js.caches.open(DOWNLOADS_CACHE)
        if all([await downloads.match(base + file) for file in files]):
            return "downloads"
        for name in await js.caches.keys():
            if not str(name).startswith(self.SITE_CACHE_PREFIX):
                continue
            site = await js.caches.open(name)
            if all([await site.match(base + file, _js_object({"ignoreSearch": True}))
                    for file in files]):
                return "site"
        return None

    def device(self, record: ModelRecord) -> dict[str, Any] | None:
        from .transformers_provider import loaded_device

        return loaded_device(record) if record.provider == "onnx" else None


def _js_object(value: dict[str, Any]) -> Any:
    import js
    from pyodide.ffi import to_js

    return to_js(value, dict_converter=js.Object.fromEntries)


# -- downloads -----------------------------------------------------------------------

#: The event kind a download's progress goes out as (no task_id: the canvas ignores it).
DOWNLOAD_EVENT = "model_download"


#: The panel's downloads in progress, by model id: what ``abort_download`` stops.
_downloading: dict[str, Any] = {}

#: Why a download stopped when the user cancelled it.
CANCELLED = "download cancelled from the page"


async def download(model_id: str, url: str | None, emit: Any) -> dict[str, Any]:
    """Run a DownloadModel task for ``model_id`` (from ``url``, a folder's base URL, else
    Hugging Face) and answer ``{ok, model}`` or ``{ok: false, error}`` (with
    ``aborted: true`` once ``abort_download`` stopped it).

    Its progress (by bytes, as the provider reports it) goes to ``emit`` as
    ``{"kind": "model_download", "model", "progress", "message"}`` events.
    The task runs as any graph's would, as a job on the ``ai:<provider>``
    queue, so the panel's download is the same code path as a graph's.
    """
    import taskloom
    from taskloom.errors import RunAbortedError

    def forward(event: Any) -> None:
        data = event.to_dict() if hasattr(event, "to_dict") else {}
        kind = data.get("kind")
        if data.get("task_id") != "download" or kind not in (
                "task_progress", "task_complete", "task_error"):
            return
        progress = 1.0 if kind == "task_complete" else data.get("progress")
        emit(json.dumps({"kind": DOWNLOAD_EVENT, "model": model_id, "progress": progress,
                         "message": data.get("error") or data.get("message")}))

    if model_id in _downloading:
        return {"ok": False, "error": f"{model_id} is already being downloaded"}
    workflow = taskloom.Workflow()
    _downloading[model_id] = workflow
    try:
        workflow.download_model(id="download", model=model_id, url=url or None)
        unsubscribe = workflow.events.subscribe(forward)
        try:
            result = await workflow.run()
        finally:
            unsubscribe()
    except RunAbortedError:
        if sys.platform == "emscripten":
            await forget_partial(model_id)
        return {"ok": False, "aborted": True, "error": f"{model_id}: {CANCELLED}"}
    except Exception as error:  # a bad id, a 404, offline: the panel shows the reason
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    finally:
        _downloading.pop(model_id, None)
    return {"ok": True, "model": result.outputs["download"]["model"]}


async def forget_partial(model_id: str) -> list[str]:
    """Take the files a cancelled download stored out of the downloads cache: every file of
    the model's folder there but those of a complete earlier download (its manifest lists
    them; web/models.js writes the manifest last). Answers the URLs taken out."""
    import js

    from .transformers_provider import DOWNLOADS_CACHE, MANIFEST

    folder = f"{BrowserProbe._base()}{split_model_id(model_id)[1].strip('/')}/"
    cache = await js.caches.open(DOWNLOADS_CACHE)
    kept = await cache.match(folder + MANIFEST)
    complete = set(json.loads(await kept.text()).get("files", {})) if kept else set()
    removed = []
    for request in await cache.keys():
        url = str(request.url)
        if url.startswith(folder) and url[len(folder):] not in complete | {MANIFEST}:
            await cache.delete(request)
            removed.append(url)
    return removed


def abort_download(model_id: str) -> dict[str, Any]:
    """Stop the download of ``model_id`` in progress; the files it stored so far are taken
    back out (web/models.js), so the model is not listed as stored."""
    workflow = _downloading.get(model_id)
    if workflow is None:
        return {"ok": False, "error": f"{model_id} is not being downloaded"}
    workflow.abort(CANCELLED)
    return {"ok": True}
