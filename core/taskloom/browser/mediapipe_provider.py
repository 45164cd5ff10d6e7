"""MediaPipe text embeddings in the browser: the page's adapter for provider ``mediapipe``.

The page's twin of ``taskloom.ai.mediapipe_cpython`` (the protocol is in
``taskloom.ai.local``): the run functions are the same, this adapter only says where
the model is and calls the site's ``mediapipe.js``, which runs @mediapipe/tasks-text's
TextEmbedder in the engine's worker on the site's ``models/minilm-mediapipe/`` — the
very file CPython's ``mediapipe`` package reads. The file's ``tokens`` head gives each
text's length, so the context check is the CPython one (``check_lengths``).

Only the TextEmbedder: MediaPipe's TextClassifier and LanguageDetector need models of
their own (a classifier head trained on labelled data, a language-id network), and no
registry package ships one or the data to make one honestly; TextClassification here is
zero-shot by embedding similarity through ``local`` and TextLanguageDetection is
fastText's.

Browser-only: ``pyodide`` is imported inside functions. The engine's ``install`` call
is cheap (the wasm loads on the first call).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin

from ..ai import local
from ..ai.catalog import ModelCatalog, catalog
from ..ai.mediapipe_cpython import DEFAULT_CONTEXT, PROVIDER, check_lengths
from ..ai.providers import ModelCall, ProviderRegistry, providers
from ..errors import AiError, ModelNotFoundError
from .transformers_provider import models_url, site_url

HELPER = "mediapipe.js"
BUNDLE = "mediapipe/text_bundle.mjs"
LOADER = "mediapipe/wasm/text_wasm_module_internal.js"
WASM = "mediapipe/wasm/text_wasm_module_internal.wasm"
DEFAULT_FILE = "minilm-l6-v2-embedder.tflite"

_helper: Any = None


async def _mediapipe() -> Any:
    global _helper
    if _helper is None:
        from pyodide.code import run_js

        _helper = await run_js(f"import({json.dumps(urljoin(site_url(), HELPER))})")
    return _helper


def model_url(location: str, file: str = DEFAULT_FILE) -> str:
    """The URL of the ``.tflite`` file a record's ``location`` names (a folder or the file)."""
    if location.endswith(".tflite"):
        return urljoin(models_url(), location)
    return urljoin(models_url(), location.strip("/") + "/" + file)


class MediaPipeJs:
    """The ``taskloom.ai.local.LocalAdapter`` of MediaPipe text embedders in the page."""

    provider = PROVIDER

    def model(self, call: ModelCall) -> tuple[str, int]:
        record = call.record
        if not record.location:
            raise ModelNotFoundError(f"model {record.id!r} names no folder: give its record "
                                     "a location under the site's models/")
        return (model_url(record.location, record.metadata.get("file", DEFAULT_FILE)),
                int(record.metadata.get("context", DEFAULT_CONTEXT)))

    async def embed(self, model: tuple[str, int], texts: list[str],
                    truncate: bool) -> list[list[float]]:
        from pyodide.ffi import JsException, to_js

        url, context = model
        helper = await _mediapipe()
        try:
            found = (await helper.embed(urljoin(site_url(), BUNDLE), urljoin(site_url(), LOADER),
                                        urljoin(site_url(), WASM), url, to_js(texts))).to_py()
        except JsException as error:
            if "HTTP 404" in str(error):
                raise ModelNotFoundError(f"no MediaPipe model at {url}: rebuild the site "
                                         "(scripts/build-site)", path=url) from None
            raise AiError(f"MediaPipe failed: {error}") from None
        check_lengths(url.rsplit("/", 1)[-1], [int(n) for _, n in found], context, truncate)
        return [[float(x) for x in vector] for vector, _ in found]


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register the page's MediaPipe text embeddings under provider ``mediapipe``."""
    return local.register(MediaPipeJs(), registry)


def install(registry: ProviderRegistry = providers, target: ModelCatalog = catalog) -> bool:
    """In Pyodide: register the run functions and point the records' folders at the site
    (a URL: the files are not on a disk here). Does nothing outside Pyodide."""
    if sys.platform != "emscripten":
        return False
    register(registry)
    for record in target.records():
        location = record.location
        if record.provider == PROVIDER and location and "://" not in location:
            target.add(replace(record, location=urljoin(models_url(), location.strip("/"))))
    return True
