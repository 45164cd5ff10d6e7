"""The local ONNX provider under CPython: the adapter for provider ``onnx``.

``OnnxCPython`` runs ``onnx_local`` (onnxruntime + tokenizers, imported on
first use) on the model's folder; ``register`` turns it into run functions
with ``local.register``, which holds everything the page does the same way
(the embedding batcher, extractive summary and answer, progress per token).
The page registers Transformers.js' adapter under the same keys instead.

onnxruntime has no asyncio API: ``onnx_local``'s async functions run each
model call in a thread, and generation stops between tokens when its job is
aborted (the worker cancels it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelNotFoundError
from . import local, onnx_local
from .batching import EMBED_BATCH
from .providers import ModelCall, ProviderRegistry, providers

if TYPE_CHECKING:
    from .tasks import GenerationInput

PROVIDER = "onnx"


@dataclass(frozen=True)
class OnnxFolder:
    """A model folder and the weights to read in it."""

    path: Path
    dtype: onnx_local.Dtype


class OnnxCPython:
    """The ``local.LocalAdapter`` of ONNX models under CPython."""

    provider = PROVIDER

    def model(self, call: ModelCall) -> OnnxFolder:
        if call.path is None:
            raise ModelNotFoundError(
                f"model {call.record.id!r} has no local files "
                f"({call.record.location or 'no location'}): fetch it with DownloadModel first")
        return OnnxFolder(call.path, onnx_local.check_dtype(call.record.dtype or "q8"))

    async def embed(self, model: OnnxFolder, texts: list[str],
                    truncate: bool) -> list[list[float]]:
        return await onnx_local.aembed(texts, model.path, batch_size=EMBED_BATCH,
                                       truncate=truncate, dtype=model.dtype)

    async def generate(self, model: OnnxFolder, prompt: str, options: GenerationInput,
                       on_token: Callable[[int, str], None]) -> str:
        pieces: list[str] = []

        def on_step(step: onnx_local.GenerationStep) -> None:
            pieces.append(step.text)
            on_token(step.index + 1, "".join(pieces))

        return await onnx_local.agenerate(
            prompt,
            model.path,
            options.max_new_tokens,
            on_token=on_step,
            temperature=options.temperature,
            top_k=options.top_k,
            seed=options.seed,
            truncate=options.truncate,
            dtype=model.dtype,
        )

    async def download(self, call: ModelCall) -> None:
        from .download import download  # urllib: only when a download runs

        await download(call)


def register(registry: ProviderRegistry = providers) -> local.LocalProvider:
    """Register the CPython ONNX run functions under provider ``onnx``."""
    return local.register(OnnxCPython(), registry)
