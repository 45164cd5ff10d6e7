"""The local ONNX provider in the browser: Transformers.js inside the engine's worker.

It registers run functions for provider ``onnx`` under the keys that
``taskloom.ai.onnx_cpython`` uses under CPython, so graphs do not change:

    TextEmbedding        mean-pooled, L2-normalised vectors (batched across jobs)
    TextGeneration       greedy by default; per-token progress; abort between tokens
    TextRewriter         generation on "prompt, text" (``onnx_cpython.rewrite_prompt``)
    TextSummary          the most central sentences (extractive, on the embedding model)
    TextQuestionAnswer   the best-matching sentence and its cosine score
    DownloadModel        a model folder fetched into Cache Storage, progress by bytes

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
context as ``onnx_local`` does). Differences: sampling
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
import math
import operator
import sys
import warnings
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin

from ..ai.catalog import EMBEDDING_TASKS, GENERATION_TASKS, ModelCatalog, catalog
from ..ai.onnx_cpython import rewrite_prompt
from ..ai.onnx_local import ONNX_FILES, ContextTruncatedWarning
from ..ai.providers import ModelCall, ProviderRegistry, providers
from ..ai.text import split_sentences
from ..errors import (
    AiError,
    ContextLengthError,
    ModelDownloadError,
    ModelInputError,
    ModelNotFoundError,
)
from ..storage.models import ModelRecord, split_model_id

PROVIDER = "onnx"
MODELS_FOLDER = "models/"
WASM_FOLDER = "onnxruntime-web/"
HELPER = "models.js"
#: The Cache Storage cache of downloaded model files (web/models.js writes it).
DOWNLOADS_CACHE = "taskloom-models"
MANIFEST = ".taskloom-download.json"
EMBED_BATCH = 32
DTYPES = {"q8": "q8", "fp32": "fp32"}

_settings: dict[str, Any] = {"site_url": None, "threads": None}
_helper: asyncio.Future | None = None
_background: set[asyncio.Future] = set()  # held so that they are not collected


# -- where the site is -------------------------------------------------------------


def site_url() -> str:
    """The site's base URL (where index.html, models/ and onnxruntime-web/ are)."""
    if _settings["site_url"]:
        return _settings["site_url"]
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
    record = call.record
    base = models_url()
    location = record.location
    if not location.startswith(base):
        raise ModelNotFoundError(
            f"model {record.id!r} has no files in this page ({location or 'no location'}): "
            "fetch it with DownloadModel first", path=location or None)
    dtype = record.dtype or "q8"
    if dtype not in DTYPES:
        raise ModelInputError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return location[len(base):].strip("/"), DTYPES[dtype]


def _site_record(record: ModelRecord) -> ModelRecord:
    """The record with its relative folder turned into the folder's URL in the site."""
    if not record.location or "://" in record.location or record.location.startswith("/"):
        return record
    return replace(record, location=urljoin(models_url(), record.location.strip("/")))


# -- embeddings ----------------------------------------------------------------------


def _too_long(what: str, n_tokens: int, limit: int, model: str) -> ContextLengthError:
    return ContextLengthError(
        f"{what} is {n_tokens} tokens long but {model} reads at most {limit}: "
        "shorten it, split it, or pass truncate=True", n_tokens=n_tokens, limit=limit)


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
        error = _too_long(f"text {index}", int(n_tokens), int(answer.limit), model)
        error.index = int(index)  # type: ignore[attr-defined]  # which text, for the batcher
        raise error
    for index, n_tokens in _rows(answer.truncated):
        warnings.warn(f"text {index} was cut from {n_tokens} to {answer.limit} tokens to fit "
                      f"{model}", ContextTruncatedWarning, stacklevel=2)
    return _rows(answer.vectors)


def _js_list(values: list[Any]) -> Any:
    from pyodide.ffi import to_js

    return to_js(values)


class EmbeddingBatcher:
    """Merges concurrent single-text requests (an array expansion's jobs) into batched calls.

    A text that fails (too long, say) fails only its own request: the batch
    is tried again without it.
    """

    def __init__(self, max_batch: int = EMBED_BATCH) -> None:
        self.max_batch = max_batch
        self._waiting: dict[tuple[Any, ...], list[tuple[str, asyncio.Future]]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    async def embed(self, text: str, model: str, dtype: str, truncate: bool) -> list[float]:
        loop = asyncio.get_running_loop()
        key = (model, dtype, truncate)
        future: asyncio.Future = loop.create_future()
        waiting = self._waiting.setdefault(key, [])
        waiting.append((text, future))
        if len(waiting) == 1:
            drain = loop.create_task(self._drain(key))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self, key: tuple[Any, ...]) -> None:
        model, dtype, truncate = key
        await asyncio.sleep(0)  # let the jobs claimed together join this batch
        while True:
            waiting = self._waiting.get(key)
            if not waiting:
                self._waiting.pop(key, None)
                return
            batch = [(t, f) for t, f in waiting[: self.max_batch] if not f.done()]
            del waiting[: self.max_batch]
            while batch:
                try:
                    vectors = await embed_texts(model, dtype, [t for t, _ in batch], truncate)
                except ContextLengthError as error:
                    _, future = batch.pop(getattr(error, "index", 0))
                    _settle(future, exception=_too_long(
                        "the text", error.n_tokens or 0, error.limit or 0, model))
                    continue
                except Exception as error:
                    for _, future in batch:
                        _settle(future, exception=error)
                    break
                for (_, future), vector in zip(batch, vectors, strict=True):
                    _settle(future, result=vector)
                break


def _settle(future: asyncio.Future, *, result: Any = None,
            exception: BaseException | None = None) -> None:
    if future.done():  # its job was aborted meanwhile
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


batcher = EmbeddingBatcher()


async def text_embedding(call: ModelCall) -> dict[str, Any]:
    model, dtype = _model_in_site(call)
    vector = await batcher.embed(call.input["text"], model, dtype,
                                 bool(call.input.get("truncate")))
    return {"vector": vector}


# -- extractive summary and answers --------------------------------------------------


def _dot(a: list[float], b: list[float]) -> float:
    return math.fsum(map(operator.mul, a, b))


async def _embed_sentences(call: ModelCall, texts: list[str]) -> list[list[float]]:
    model, dtype = _model_in_site(call)
    truncate = bool(call.input.get("truncate"))
    vectors: list[list[float]] = []
    for first in range(0, len(texts), EMBED_BATCH):
        vectors += await embed_texts(model, dtype, texts[first:first + EMBED_BATCH], truncate)
    return vectors


async def text_summary(call: ModelCall) -> dict[str, Any]:
    """The ``sentences`` most central sentences, in their order (as ``onnx_local.summarize``)."""
    n = call.input.get("sentences", 3)
    sentences = split_sentences(call.input["text"])
    if not sentences:
        raise ModelInputError("the text is empty: give some text")
    if len(sentences) <= n:
        return {"text": " ".join(s.text for s in sentences)}
    vectors = await _embed_sentences(call, [s.text for s in sentences])
    centrality = [sum(_dot(v, w) for w in vectors) / len(vectors) for v in vectors]
    chosen = sorted(sorted(range(len(sentences)), key=lambda i: -centrality[i])[:n])
    return {"text": " ".join(sentences[i].text for i in chosen)}


async def text_question_answer(call: ModelCall) -> dict[str, Any]:
    """The context's sentence most similar to the question (as ``onnx_local.answer``)."""
    sentences = split_sentences(call.input["context"])
    if not sentences:
        raise ModelInputError("the context is empty: give some text")
    question, *vectors = await _embed_sentences(
        call, [call.input["question"], *(s.text for s in sentences)])
    scores = [_dot(v, question) for v in vectors]
    best = max(range(len(scores)), key=scores.__getitem__)
    return {"answer": sentences[best].text, "score": scores[best]}


# -- generation ----------------------------------------------------------------------


async def _generate(call: ModelCall, prompt: str) -> str:
    from pyodide.ffi import create_proxy

    model, dtype = _model_in_site(call)
    given = call.input
    total = given.get("max_new_tokens", 64)
    temperature = given.get("temperature", 0.0)
    if temperature > 0 and given.get("seed") is not None:
        call.logger.warning("seed is ignored in the browser: Transformers.js samples with its "
                            "own random numbers")

    def on_token(count: int, _total: int) -> None:
        call.progress(count / total, f"{count}/{total} tokens")

    module = await transformers_js()
    progress = create_proxy(on_token)
    handle = module.startGeneration(model, dtype, prompt, _js_object({
        "max_new_tokens": total,
        "temperature": temperature,
        "top_k": given.get("top_k"),
        "truncate": bool(given.get("truncate")),
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
        raise _too_long("the prompt", int(too_long), int(answer.limit), model)
    if answer.truncated:
        warnings.warn(f"the prompt was cut from {answer.promptTokens} tokens to fit {model}",
                      ContextTruncatedWarning, stacklevel=2)
    return str(answer.text)


async def text_generation(call: ModelCall) -> dict[str, Any]:
    return {"text": await _generate(call, call.input["prompt"])}


async def text_rewriter(call: ModelCall) -> dict[str, Any]:
    return {"text": await _generate(call, rewrite_prompt(call.input["prompt"],
                                                         call.input["text"]))}


# -- downloads -----------------------------------------------------------------------


def _tasks_from_config(config: dict[str, Any] | None) -> list[str]:
    """What a downloaded model serves, read from its config.json (as the CPython download)."""
    config = config or {}
    architectures = " ".join(config.get("architectures") or [])
    if "CausalLM" in architectures or "LMHead" in architectures:
        return list(GENERATION_TASKS)
    if config.get("model_type") in ("bert", "mpnet", "xlm-roberta", "roberta", "distilbert"):
        return list(EMBEDDING_TASKS)
    return []


def _download_record(model_id: str, folder: str, manifest: dict[str, Any],
                     tasks: list[str]) -> ModelRecord:
    return ModelRecord(model_id, tasks=tuple(tasks), location=folder.rstrip("/"),
                       dtype=split_model_id(model_id)[2],
                       metadata={"source": manifest.get("base_url"),
                                 "bytes": sum(manifest.get("files", {}).values()),
                                 "stored": "Cache Storage"})


async def download_model(call: ModelCall) -> dict[str, Any]:
    """Fetch the model's files into Cache Storage (progress by bytes) and register its record."""
    import js
    from pyodide.ffi import create_proxy

    from ..ai.download import HUGGING_FACE, _wanted_files, folder_for

    model_id = call.record.id
    _, name, variant = split_model_id(model_id)
    folder_for(model_id, call.models_dir)  # the same name checks as under CPython
    given = call.input
    base = urljoin(site_url(), given.get("url") or HUGGING_FACE.format(name=name))
    if not base.endswith("/"):
        base += "/"
    required, optional = _wanted_files(given, variant)
    folder = urljoin(models_url(), name) + "/"
    module = await transformers_js()

    def on_bytes(done: int, total: int) -> None:
        call.progress(min(done / total, 1.0), f"{done}/{total} bytes")

    progress = create_proxy(on_bytes)
    controller = js.AbortController.new()
    try:
        answer = await _call(module.download(base, folder, _js_list(required),
                                             _js_list(optional), progress, controller.signal,
                                             _js_list(given.get("tasks")) if given.get("tasks")
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
    tasks = list(given.get("tasks") or _tasks_from_config(
        _as_dict(await _call(module.readConfig(folder)))))
    catalog.add(_download_record(model_id, folder, result, tasks))
    return {"model": model_id}


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
            tasks = _tasks_from_config(json.loads(await config.text()) if config else None)
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


def register(registry: ProviderRegistry = providers) -> None:
    """Register this module's run functions under provider ``onnx``."""
    for task_type, function in (
        ("TextEmbedding", text_embedding),
        ("TextGeneration", text_generation),
        ("TextRewriter", text_rewriter),
        ("TextSummary", text_summary),
        ("TextQuestionAnswer", text_question_answer),
        ("DownloadModel", download_model),
    ):
        registry.register(task_type, PROVIDER, function)


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
