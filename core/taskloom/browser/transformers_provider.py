"""The local ONNX provider in the browser: Transformers.js inside the engine's worker.

``TransformersJs`` is the page's adapter for provider ``onnx`` (the protocol
is in ``taskloom.ai.local``): it loads a model, runs it and tokenises through
Transformers.js; ``register`` turns it into the same run functions as
``taskloom.ai.onnx_cpython`` under CPython (batched embeddings, extractive
summary and answer, generation with per-token progress and abort between
tokens), so graphs do not change. Its own part is where the files are: a
download fills Cache Storage, progress by bytes.

The JavaScript half is the site's ``models.js`` (imported on the first model
call): it sets the three things that keep Transformers.js offline
(``env.allowRemoteModels = false``, ``env.localModelPath`` = the site's
``models/``, ``env.backends.onnx.wasm.wasmPaths`` = the site's
``onnxruntime-web/``) and runs the pipelines. In the browser a model's
files are URLs, so ``install`` gives the built-in records the URL of their
folder under ``models/``; a download's files are stored in Cache Storage
under the URL they would have there, and Transformers.js finds them first.

Same numbers as CPython: embeddings agree within 1e-4, greedy fp32
generation is token for token the same (the window slides past the
context as ``onnx_local`` does). That is on wasm; on WebGPU (web/models.js
loads a model there when the page's setting and a WebGPU adapter allow,
and falls back to wasm when it cannot) floats are summed in another order:
embeddings agree within float tolerance, not bit for bit, and a greedy
token whose top two logits tie within it may differ. A fallback is logged
once per model (``taskloom.ai`` warning: the Logs panel). Differences: sampling
(``temperature > 0``) uses Transformers.js' own random numbers, so
``seed`` does not reproduce CPython's samples; a download lives in this
origin's Cache Storage and is registered in the worker's catalog (not in
a ModelRepository) — ``install`` registers the completed ones again after
a reload.

Browser-only: ``js`` and ``pyodide`` are imported inside functions, and
``install`` does nothing outside Pyodide.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ..ai import local
from ..ai.catalog import ModelCatalog, catalog, tasks_from_config
from ..ai.local import context_length_error
from ..ai.onnx_local import ONNX_FILES, ContextTruncatedWarning, check_dtype
from ..ai.providers import ModelCall, ProviderRegistry, providers
from ..errors import AiError, ModelDownloadError, ModelInputError, ModelNotFoundError
from ..storage.models import ModelRecord, split_model_id

if TYPE_CHECKING:
    from ..ai.tasks import GenerationInput

PROVIDER = "onnx"
MODELS_FOLDER = "models/"
WASM_FOLDER = "onnxruntime-web/"
HELPER = "models.js"
#: The Cache Storage cache of downloaded model files (web/models.js writes it).
DOWNLOADS_CACHE = "taskloom-models"
MANIFEST = ".taskloom-download.json"

_settings: dict[str, Any] = {"site_url": None, "threads": None}
_helper: asyncio.Future | None = None
_background: set[asyncio.Future] = set()  # held so that they are not collected


# -- where the site is -------------------------------------------------------------


def site_url() -> str:
    """The site's base URL (where index.html, models/ and onnxruntime-web/ are)."""
    if _settings["site_url"]:
        return _settings["site_url"]
    found = _settings.get("found_site_url")
    if found is None:  # the worker's location never changes: looked up once
        found = _settings["found_site_url"] = _find_site_url()
    return found


def _find_site_url() -> str:
    import js

    href = str(js.location.href)
    if not href.startswith("blob:"):  # a module worker: <site>/engine-worker.mjs
        return urljoin(href, ".")
    try:  # PyScript's worker runs from a blob: URL; Pyodide's files are <site>/pyodide/
        import pyodide_js

        return urljoin(str(pyodide_js._api.config.indexURL), "..")
    except (ImportError, AttributeError):
        return str(js.location.origin) + "/"


def models_url() -> str:
    return urljoin(site_url(), MODELS_FOLDER)


def configure(*, site: str | None = None, threads: int | None = None) -> None:
    """Override the site's URL or ONNX Runtime's thread count (before the first model call).

    ``threads`` > 1 needs cross-origin isolation (scripts/serve sends it);
    without it ONNX Runtime runs one thread. Default: ONNX Runtime's choice.
    """
    if _helper is not None and _helper.done() and threads != _settings["threads"]:
        raise ModelInputError("ONNX Runtime is started already: configure(threads=...) must "
                              "come before the first model call (reload the page)")
    if site is not None:
        _settings["site_url"] = site if site.endswith("/") else site + "/"
    _settings["threads"] = threads


async def transformers_js() -> Any:
    """The site's models.js module, imported and configured once per worker."""
    global _helper
    if (_helper is not None and _helper.done() and not _helper.cancelled()
            and _helper.exception() is None):
        return _helper.result()  # every model call comes here: no shield once loaded
    if _helper is None:
        _helper = asyncio.ensure_future(_import_helper())
    try:
        return await asyncio.shield(_helper)
    except BaseException:
        if _helper.done() and (_helper.cancelled() or _helper.exception() is not None):
            _helper = None  # a failed import may be retried
        raise


async def _import_helper() -> Any:
    from pyodide.code import run_js

    module = await run_js(f"import({json.dumps(urljoin(site_url(), HELPER))})")
    module.configure(_js_object({
        "modelsURL": models_url(),
        "wasmURL": urljoin(site_url(), WASM_FOLDER),
        "threads": _settings["threads"],
    }))
    return module


def _js_object(value: dict[str, Any]) -> Any:
    import js
    from pyodide.ffi import to_js

    return to_js(value, dict_converter=js.Object.fromEntries)


async def _call(promise: Any) -> Any:
    """Await a JS promise, turning a JS error into an AiError that says what failed."""
    from pyodide.ffi import JsException

    try:
        return await promise
    except JsException as error:
        text = str(error)
        if "not found locally" in text or "404" in text:
            raise ModelNotFoundError(f"Transformers.js cannot find a model file: {text}") from None
        raise AiError(f"Transformers.js failed: {text}") from None


# -- records -------------------------------------------------------------------------


def _model_in_site(call: ModelCall) -> tuple[str, str]:
    """(Transformers.js model id, dtype) for the call's record."""
    return _site_model(call.record)


def _site_model(record: ModelRecord) -> tuple[str, str]:
    base = models_url()
    location = record.location
    if not location.startswith(base):
        raise ModelNotFoundError(
            f"model {record.id!r} has no files in this page ({location or 'no location'}): "
            "fetch it with DownloadModel first", path=location or None)
    return location[len(base):].strip("/"), check_dtype(record.dtype or "q8")


def _site_record(record: ModelRecord) -> ModelRecord:
    """The record with its relative folder turned into the folder's URL in the site."""
    if not record.location or "://" in record.location or record.location.startswith("/"):
        return record
    return replace(record, location=urljoin(models_url(), record.location.strip("/")))


# -- the adapter -------------------------------------------------------------------


def _report_fallback(answer: Any, model: str) -> None:
    """Log once that a model asked to run on WebGPU runs on wasm (web/models.js tells once)."""
    fallback = getattr(answer, "fallback", None)
    if fallback:
        logging.getLogger("taskloom.ai").warning("%s runs on wasm, not WebGPU: %s", model,
                                                 fallback)


def loaded_device(record: ModelRecord) -> dict[str, Any] | None:
    """Where the record's model runs in this worker (``{device, preference, fallback,
    adapter}``), or None before its first call."""
    helper = _helper
    if helper is None or not helper.done() or helper.cancelled() or helper.exception():
        return None
    try:
        model, dtype = _site_model(record)
    except (ModelNotFoundError, ModelInputError):
        return None
    return _as_dict(helper.result().loadedDevices()).get(f"{model}:{dtype}")


def _rows(rows: Any) -> list[Any]:
    return rows.to_py() if hasattr(rows, "to_py") else list(rows)


async def embed_texts(model: str, dtype: str, texts: list[str],
                      truncate: bool = False) -> list[list[float]]:
    """Vectors for ``texts`` in one Transformers.js call (ContextLengthError if one is too long)."""
    module = await transformers_js()
    answer = await _call(module.embed(model, dtype, _js_list(texts), truncate))
    too_long = getattr(answer, "tooLong", None)
    if too_long is not None:
        index, n_tokens = too_long.to_py()
        raise context_length_error(f"text {index}", int(n_tokens), int(answer.limit), model)
    _report_fallback(answer, f"{model} ({dtype})")
    for index, n_tokens in _rows(answer.truncated):
        warnings.warn(f"text {index} was cut from {n_tokens} to {answer.limit} tokens to fit "
                      f"{model}", ContextTruncatedWarning, stacklevel=2)
    return _rows(answer.vectors)


def _js_list(values: list[Any]) -> Any:
    from pyodide.ffi import to_js

    return to_js(values)


class TransformersJs:
    """The ``taskloom.ai.local.LocalAdapter`` of ONNX models in the page."""

    provider = PROVIDER

    def model(self, call: ModelCall) -> tuple[str, str]:
        """(Transformers.js model id, dtype)."""
        return _model_in_site(call)

    async def embed(self, model: tuple[str, str], texts: list[str],
                    truncate: bool) -> list[list[float]]:
        return await embed_texts(*model, texts, truncate)

    async def generate(self, model: tuple[str, str], prompt: str, options: GenerationInput,
                       on_token: Callable[[int, str], None]) -> str:
        from pyodide.ffi import create_proxy

        model_id, dtype = model
        if options.temperature > 0 and options.seed is not None:
            logging.getLogger("taskloom.ai").warning(
                "seed is ignored in the browser: Transformers.js samples with its own random "
                "numbers")
        module = await transformers_js()
        # web/models.js calls back with the text so far too: it is streamed.
        progress = create_proxy(lambda count, _total, text=None: on_token(count, text))
        handle = module.startGeneration(model_id, dtype, prompt, _js_object({
            "max_new_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_k": options.top_k,
            "truncate": options.truncate,
        }), progress)
        try:
            answer = await _call(handle.promise)
        except asyncio.CancelledError:
            handle.interrupt()  # stops before its next token
            raise
        finally:
            progress.destroy()
        too_long = getattr(answer, "tooLong", None)
        if too_long is not None:
            raise context_length_error("the prompt", int(too_long), int(answer.limit), model_id)
        _report_fallback(answer, f"{model_id} ({dtype})")
        if answer.truncated:
            warnings.warn(f"the prompt was cut from {answer.promptTokens} tokens to fit "
                          f"{model_id}", ContextTruncatedWarning, stacklevel=2)
        return str(answer.text)

    async def download(self, call: ModelCall) -> None:
        await fetch_into_cache_storage(call)


# -- downloads -----------------------------------------------------------------------


def _download_record(model_id: str, folder: str, manifest: dict[str, Any],
                     tasks: list[str]) -> ModelRecord:
    return ModelRecord(model_id, tasks=tuple(tasks), location=folder.rstrip("/"),
                       dtype=split_model_id(model_id)[2],
                       metadata={"source": manifest.get("base_url"),
                                 "bytes": sum(manifest.get("files", {}).values()),
                                 "stored": "Cache Storage"})


async def fetch_into_cache_storage(call: ModelCall) -> None:
    """Fetch the model's files into Cache Storage (progress by bytes) and register its record."""
    import js
    from pyodide.ffi import create_proxy

    from ..ai.download import HUGGING_FACE, folder_for, wanted_files

    model_id = call.record.id
    _, name, variant = split_model_id(model_id)
    folder_for(model_id, call.models_dir)  # the same name checks as under CPython
    given = call.input  # DownloadModel.Input
    base = urljoin(site_url(), given.url or HUGGING_FACE.format(name=name))
    if not base.endswith("/"):
        base += "/"
    required, optional = wanted_files(given.files, variant)
    folder = urljoin(models_url(), name) + "/"
    module = await transformers_js()

    def on_bytes(done: int, total: int) -> None:
        call.progress(min(done / total, 1.0), f"{done}/{total} bytes")

    progress = create_proxy(on_bytes)
    controller = js.AbortController.new()
    try:
        answer = await _call(module.download(base, folder, _js_list(required),
                                             _js_list(optional), progress, controller.signal,
                                             _js_list(given.tasks) if given.tasks
                                             else None))
    except asyncio.CancelledError:
        controller.abort()
        raise
    finally:
        progress.destroy()
    result = _as_dict(answer)
    if "missing" in result:
        error = ModelDownloadError(f"{result['url']} does not exist (404): is {base} a model "
                                   f"folder with {result['missing']}?", url=result["url"])
        error.retryable = False  # type: ignore[attr-defined]
        raise error
    if "failed" in result:
        raise ModelDownloadError(f"cannot fetch {result['url']}: {result['failed']}",
                                 url=result["url"])
    if result.get("cached"):
        call.progress(1.0, "cached")
    else:
        total = sum(result["files"].values())
        call.progress(1.0, f"{total}/{total} bytes")
    tasks = list(given.tasks or tasks_from_config(
        _as_dict(await _call(module.readConfig(folder)))))
    catalog.add(_download_record(model_id, folder, result, tasks))


def _as_dict(value: Any) -> Any:
    """A JS object (nested) as Python dicts and lists."""
    import js

    if value is None or not hasattr(value, "to_py"):
        return value
    return json.loads(js.JSON.stringify(value))


async def register_downloads(target: ModelCatalog = catalog) -> list[str]:
    """Register the downloads completed in earlier visits (Cache Storage outlives a reload).

    Reads the manifests in Cache Storage directly (Transformers.js is not
    loaded for this). Ids are not kept, so each folder is registered as
    ``onnx:<name>:<variant>`` for each variant whose weights it holds.
    """
    import js

    cache = await js.caches.open(DOWNLOADS_CACHE)
    base = models_url()
    found: list[str] = []
    for request in await cache.keys():
        url = str(request.url)
        if not url.endswith(MANIFEST) or not url.startswith(base):
            continue
        folder = url[: -len(MANIFEST)]
        manifest = json.loads(await (await cache.match(request)).text())
        tasks = manifest.get("tasks")
        if not tasks:
            config = await cache.match(folder + "config.json")
            tasks = tasks_from_config(json.loads(await config.text()) if config else None)
        for variant, weights in ONNX_FILES.items():
            if f"onnx/{weights}" in manifest.get("files", {}):
                model_id = f"{PROVIDER}:{folder[len(base):].strip('/')}:{variant}"
                target.add(_download_record(model_id, folder, manifest, tasks))
                found.append(model_id)
    return found


async def _register_downloads_quietly() -> None:
    try:
        await register_downloads()
    except Exception as error:  # Cache Storage may be unavailable (private mode…)
        logging.getLogger("taskloom.ai").warning("earlier downloads not registered: %s", error)


# -- wiring --------------------------------------------------------------------------


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register the Transformers.js run functions under provider ``onnx``."""
    return local.register(TransformersJs(), registry)


def install(registry: ProviderRegistry = providers, target: ModelCatalog = catalog) -> bool:
    """In Pyodide: register the run functions and point the local records at the site.

    Cheap: Transformers.js itself loads on the first model call. Does nothing
    (and answers False) outside Pyodide, where ``onnx_cpython`` is the provider.
    """
    if sys.platform != "emscripten":
        return False
    register(registry)
    for record in target.records():
        if record.provider == PROVIDER:
            target.add(_site_record(record))
    if target is catalog:
        registering = asyncio.ensure_future(_register_downloads_quietly())
        _background.add(registering)
        registering.add_done_callback(_background.discard)
    return True
