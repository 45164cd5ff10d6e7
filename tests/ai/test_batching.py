"""The batcher both runtimes share, on the CPython adapter and the real MiniLM."""

from __future__ import annotations

import asyncio

import pytest

from taskloom.ai import onnx_local
from taskloom.ai.batching import Batcher
from taskloom.ai.onnx_cpython import OnnxCPython, OnnxFolder
from taskloom.errors import ContextLengthError, ModelNotFoundError

TEXTS = ["A man is eating food.", "The new movie is awesome.", "hello world",
         "Stock markets fell sharply.", "A cat sleeps in the sun."]
TOO_LONG = "word " * 600  # 602 tokens; MiniLM reads 512


class CountingAdapter(OnnxCPython):
    """The CPython adapter, recording the texts of each model call it makes."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, model, texts, truncate):
        self.calls.append(list(texts))
        return await super().embed(model, texts, truncate)


@pytest.fixture
def adapter() -> CountingAdapter:
    return CountingAdapter()


@pytest.fixture
def minilm(minilm_dir) -> OnnxFolder:
    return OnnxFolder(minilm_dir, "q8")


def assert_vectors_of(texts, vectors, minilm_dir) -> None:
    expected = onnx_local.embed(texts, minilm_dir, batch_size=1)
    for got, want in zip(vectors, expected, strict=True):
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5


async def test_concurrent_requests_become_one_model_call(adapter, minilm, minilm_dir):
    batcher = Batcher(adapter.embed)
    vectors = await asyncio.gather(*(batcher.ask(minilm, text, False) for text in TEXTS))
    assert adapter.calls == [TEXTS]
    assert_vectors_of(TEXTS, vectors, minilm_dir)


async def test_a_text_that_breaks_the_batch_fails_alone(adapter, minilm, minilm_dir):
    batcher = Batcher(adapter.embed)
    texts = [TEXTS[0], TOO_LONG, TEXTS[1]]
    results = await asyncio.gather(*(batcher.ask(minilm, text, False) for text in texts),
                                   return_exceptions=True)
    first, failed, last = results
    assert isinstance(failed, ContextLengthError)
    assert (failed.n_tokens, failed.limit) == (602, 512)
    assert_vectors_of([TEXTS[0], TEXTS[1]], [first, last], minilm_dir)
    # The whole batch once, then each text alone: only its own request failed.
    assert adapter.calls == [texts, [TEXTS[0]], [TOO_LONG], [TEXTS[1]]]


async def test_batches_hold_at_most_max_batch_texts(adapter, minilm, minilm_dir):
    batcher = Batcher(adapter.embed, max_batch=2)
    vectors = await asyncio.gather(*(batcher.ask(minilm, text, False) for text in TEXTS))
    assert adapter.calls == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:]]
    assert_vectors_of(TEXTS, vectors, minilm_dir)


async def test_texts_batch_per_model_and_truncation(adapter, minilm, minilm_dir):
    batcher = Batcher(adapter.embed)
    fp32_missing = OnnxFolder(minilm_dir, "fp32")  # the folder has no fp32 weights
    with pytest.warns(onnx_local.ContextTruncatedWarning):
        results = await asyncio.gather(
            batcher.ask(minilm, TEXTS[0], False),
            batcher.ask(fp32_missing, TEXTS[1], False),
            batcher.ask(minilm, TOO_LONG, True),
            batcher.ask(minilm, TEXTS[2], False),
            return_exceptions=True)
    assert sorted(adapter.calls) == sorted([[TEXTS[0], TEXTS[2]], [TEXTS[1]], [TOO_LONG]])
    assert isinstance(results[1], ModelNotFoundError)  # that request's own model
    assert_vectors_of([TEXTS[0], TEXTS[2]], [results[0], results[3]], minilm_dir)
    assert len(results[2]) == 384


async def test_a_request_cancelled_before_its_batch_runs_is_left_out(adapter, minilm):
    batcher = Batcher(adapter.embed)
    requests = [asyncio.create_task(batcher.ask(minilm, text, False)) for text in TEXTS[:3]]
    await asyncio.sleep(0)  # each request is waiting; the batch has not run yet
    requests[1].cancel()  # its job was aborted
    done = await asyncio.gather(*requests, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert adapter.calls == [[TEXTS[0], TEXTS[2]]]
