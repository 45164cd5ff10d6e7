"""The local ONNX provider under CPython: run functions for provider ``onnx``.

They call ``onnx_local`` (onnxruntime + tokenizers, imported on first use) on
the model's folder. The browser registers Transformers.js functions under the
same keys instead; nothing else changes.

Embeddings are batched across jobs: texts that arrive while a model call is
running (an array expansion puts many jobs on the queue at once) go into the
next call together, up to ``EMBED_BATCH`` texts. A text that fails (too
long, say) is retried alone so that only its own job fails.

Summaries and answers are extractive (no registry package ships an offline
summariser or QA model): the most central sentences, and the sentence that
best matches the question with its cosine score.

Generation reports progress per token and stops between tokens when its job
is aborted (the worker cancels it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError
from . import onnx_local
from .providers import ModelCall, ProviderRegistry, providers

PROVIDER = "onnx"
EMBED_BATCH = 32


def _dtype(call: ModelCall) -> Any:
    return call.record.dtype or "q8"


def _path(call: ModelCall) -> Path:
    if call.path is None:
        raise ModelNotFoundError(
            f"model {call.record.id!r} has no local files ({call.record.location or 'no location'}"
            "): fetch it with DownloadModel first")
    return call.path


class EmbeddingBatcher:
    """Merges concurrent single-text embedding requests into batched model calls."""

    def __init__(self, max_batch: int = EMBED_BATCH) -> None:
        self.max_batch = max_batch
        self._waiting: dict[tuple[Any, ...], list[tuple[str, asyncio.Future]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # held so they are not collected

    async def embed(self, text: str, path: Path, dtype: Any, truncate: bool) -> list[float]:
        loop = asyncio.get_running_loop()
        key = (id(loop), str(path), dtype, truncate)
        future: asyncio.Future = loop.create_future()
        waiting = self._waiting.setdefault(key, [])
        waiting.append((text, future))
        if len(waiting) == 1:
            drain = loop.create_task(self._drain(key, path, dtype, truncate))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self, key: tuple[Any, ...], path: Path, dtype: Any, truncate: bool) -> None:
        await asyncio.sleep(0)  # let the jobs claimed together join this batch
        while True:
            waiting = self._waiting.get(key)
            if not waiting:
                self._waiting.pop(key, None)
                return
            batch = [(t, f) for t, f in waiting[: self.max_batch] if not f.done()]
            del waiting[: self.max_batch]
            if not batch:
                continue
            try:
                vectors = await onnx_local.aembed([t for t, _ in batch], path,
                                                  batch_size=self.max_batch, truncate=truncate,
                                                  dtype=dtype)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exception=exc)
                    continue
                for text, future in batch:  # find whose text failed
                    try:
                        vector = (await onnx_local.aembed([text], path, truncate=truncate,
                                                          dtype=dtype))[0]
                    except Exception as single:
                        _settle(future, exception=single)
                    else:
                        _settle(future, result=vector)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                _settle(future, result=vector)


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
    # No progress report: one short call, and a completed job is at 1.0 anyway.
    vector = await batcher.embed(call.input["text"], _path(call), _dtype(call),
                                 bool(call.input.get("truncate")))
    return {"vector": vector}


async def _generate(call: ModelCall, prompt: str) -> str:
    given = call.input
    total = given.get("max_new_tokens", 64)

    def on_token(step: onnx_local.GenerationStep) -> None:
        call.progress((step.index + 1) / total, f"{step.index + 1}/{total} tokens")

    return await onnx_local.agenerate(
        prompt,
        _path(call),
        total,
        on_token=on_token,
        temperature=given.get("temperature", 0.0),
        top_k=given.get("top_k"),
        seed=given.get("seed"),
        truncate=bool(given.get("truncate")),
        dtype=_dtype(call),
    )


async def text_generation(call: ModelCall) -> dict[str, Any]:
    return {"text": await _generate(call, call.input["prompt"])}


def rewrite_prompt(prompt: str, text: str) -> str:
    """What a causal LM is given for a rewrite: the instruction, then the text."""
    return f"{prompt.strip()}\n\n{text.strip()}\n\n"


async def text_rewriter(call: ModelCall) -> dict[str, Any]:
    return {"text": await _generate(call, rewrite_prompt(call.input["prompt"],
                                                         call.input["text"]))}


async def text_summary(call: ModelCall) -> dict[str, Any]:
    summary = await asyncio.to_thread(
        onnx_local.summarize, call.input["text"], _path(call), call.input.get("sentences", 3),
        truncate=bool(call.input.get("truncate")), dtype=_dtype(call))
    return {"text": summary}


async def text_question_answer(call: ModelCall) -> dict[str, Any]:
    found = await asyncio.to_thread(
        onnx_local.answer, call.input["question"], call.input["context"], _path(call),
        truncate=bool(call.input.get("truncate")), dtype=_dtype(call))
    return {"answer": found.text, "score": found.score}


async def download_model(call: ModelCall) -> dict[str, Any]:
    from .download import download

    await download(call)
    return {"model": call.record.id}


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
