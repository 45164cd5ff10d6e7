"""MediaPipe text embeddings under CPython: the ``local.LocalAdapter`` of provider ``mediapipe``.

The model is a MediaPipe TextEmbedder ``.tflite``: all-MiniLM-L6-v2 converted by
``scripts/build-mediapipe-model`` (committed in ``build/models/minilm-mediapipe/``,
copied to ``dist/models/minilm-mediapipe/`` by ``scripts/build-models``). The page runs
the very same file with ``@mediapipe/tasks-text`` (``browser.mediapipe_provider``).
``pip install 'taskloom[mediapipe]'`` brings the ``mediapipe`` package, which runs it
(its TextEmbedder tokenises with the BERT vocabulary inside the file).

Only ``embed``: through ``local`` that also serves TextSummary, TextQuestionAnswer and
zero-shot TextClassification. The file has two outputs, ``embedding`` (L2-normalised
already) and ``tokens`` (the text's length in tokens, [CLS] and [SEP] included), which
is how a text longer than the context is told apart without a tokenizer here:
ContextLengthError, or with ``truncate`` a ContextTruncatedWarning (the model itself
keeps the first tokens and the final [SEP]). MediaPipe has no asyncio API: each batch
runs in a thread, one embedder per file behind a lock.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AiError, ModelDependencyError, ModelNotFoundError
from ..storage.models import ModelRecord
from . import local
from .onnx_local import ContextTruncatedWarning
from .providers import ModelCall, ProviderRegistry, providers

PROVIDER = "mediapipe"
INSTALL = "pip install 'taskloom[mediapipe]'"
DEFAULT_CONTEXT = 512


@dataclass(frozen=True)
class TfliteModel:
    """A MediaPipe text embedder file and the context its record gives."""

    path: Path
    context: int = DEFAULT_CONTEXT


def find_model(folder: Path, record: ModelRecord) -> TfliteModel:
    """The record's ``.tflite`` file in ``folder`` (``metadata["file"]``, else the only
    one there) and its context (``metadata["context"]``), or a clear error."""
    named = record.metadata.get("file")
    files = [folder / named] if named else sorted(folder.glob("*.tflite"))
    if not files or not files[0].is_file():
        raise ModelNotFoundError(
            f"model {record.id!r}: no {named or '.tflite file'} in {folder}: run "
            "scripts/build-models (built-in models) or point the record's location at a "
            "folder with one", path=str(folder))
    return TfliteModel(files[0], int(record.metadata.get("context", DEFAULT_CONTEXT)))


def check_lengths(model: str, lengths: list[int], limit: int, truncate: bool) -> None:
    """ContextLengthError for the first text longer than ``limit`` tokens, unless
    ``truncate``: then a warning per cut text. The same in both runtimes."""
    for index, n_tokens in enumerate(lengths):
        if n_tokens <= limit:
            continue
        if not truncate:
            raise local.context_length_error(f"text {index}", n_tokens, limit, model)
        warnings.warn(f"text {index} was cut from {n_tokens} to {limit} tokens to fit {model}",
                      ContextTruncatedWarning, stacklevel=3)


def _text_module() -> Any:
    try:
        from mediapipe.tasks.python import text
        from mediapipe.tasks.python.core.base_options import BaseOptions
    except ImportError as exc:
        raise ModelDependencyError(
            f"the mediapipe provider needs the mediapipe package under CPython: {INSTALL}"
        ) from exc
    return text, BaseOptions


class MediaPipeCPython:
    """Embeds with MediaPipe's TextEmbedder; one loaded embedder per file."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._embedders: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def model(self, call: ModelCall) -> TfliteModel:
        if call.path is None:
            raise ModelNotFoundError(
                f"model {call.record.id!r} has no local files "
                f"({call.record.location or 'no location'}): run scripts/build-models")
        return find_model(call.path, call.record)

    def _embedder(self, path: Path) -> Any:
        text, base_options = _text_module()
        embedder = self._embedders.get(path)
        if embedder is None:
            # The file normalises its vectors itself; MediaPipe's quantize would round them.
            options = text.TextEmbedderOptions(
                base_options=base_options(model_asset_path=str(path)),
                l2_normalize=False, quantize=False)
            embedder = self._embedders[path] = text.TextEmbedder.create_from_options(options)
            if len(self._embedders) == 1:
                # An embedder still open at exit fails in its __del__, and so does close()
                # once MediaPipe's dispatcher (a thread pool) has shut down. threading's
                # exit hooks run newest first: one registered now runs before its own.
                getattr(threading, "_register_atexit", atexit.register)(self.close)
        return embedder

    def _embed_sync(self, path: Path, texts: list[str]) -> list[tuple[list[float], int]]:
        out = []
        with self._lock:  # a MediaPipe graph runs one text at a time
            embedder = self._embedder(path)
            for text in texts:
                heads = {e.head_name: e.embedding for e in embedder.embed(text).embeddings}
                if "embedding" not in heads or "tokens" not in heads:
                    raise AiError(f"{path} is not a taskloom MediaPipe embedder: its heads "
                                  f"are {', '.join(heads) or 'none'}, not embedding and tokens")
                out.append(([float(x) for x in heads["embedding"]], int(heads["tokens"][0])))
        return out

    async def embed(self, model: TfliteModel, texts: list[str],
                    truncate: bool) -> list[list[float]]:
        found = await asyncio.to_thread(self._embed_sync, model.path, texts)
        check_lengths(model.path.name, [n for _, n in found], model.context, truncate)
        return [vector for vector, _ in found]

    def close(self) -> None:
        with self._lock:
            for embedder in self._embedders.values():
                embedder.close()
            self._embedders.clear()


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register MediaPipe text embeddings under provider ``mediapipe``."""
    return local.register(MediaPipeCPython(), registry)
