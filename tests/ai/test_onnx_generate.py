"""taskloom.ai.onnx_local generation on glassllm, compared with glassllm's own numpy model."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from taskloom.ai import onnx_local
from taskloom.errors import ContextLengthError, ModelInputError, ModelNotFoundError

PROMPTS = ["Alice was beginning to", "The Queen said", "“Who are you?”", "Once upon a time"]


def numpy_greedy(glassllm, prompt: str, n: int, **options) -> str:
    model, tokenizer = glassllm
    steps = model.generate(tokenizer.encode(prompt), n, greedy=True, **options)
    return tokenizer.decode([step.token for step in steps])


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_fp32_equals_glassllm_numpy(glassllm_dir, glassllm, prompt):
    ours = onnx_local.generate(prompt, glassllm_dir, 40, dtype="fp32")
    assert ours == numpy_greedy(glassllm, prompt, 40)
    assert len(ours) > 40  # 40 tokens of real text, not an early stop


@pytest.mark.parametrize("dtype", ["fp32", "q8"])
def test_greedy_output_equals_transformers_js(glassllm_dir, transformers_js, dtype):
    # Transformers.js: pipeline "text-generation", do_sample false, max_new_tokens 48.
    for prompt, text in transformers_js["generations"][dtype].items():
        assert onnx_local.generate(prompt, glassllm_dir, 48, dtype=dtype) == text


def test_tokenizer_json_ids_equal_transformers_js_and_glassllm(
    glassllm_dir, glassllm, transformers_js
):
    _, tokenizer = glassllm
    loaded = onnx_local.load_model(glassllm_dir)
    for text, ids in transformers_js["token_ids"].items():
        assert loaded.tokenizer.encode(text).ids == ids == tokenizer.encode(text)


def test_generation_past_the_context_slides_like_glassllm(glassllm_dir, glassllm):
    # 10 prompt tokens + 140 new ones overflow the 128-token context twice over.
    prompt = "Alice was beginning to get very tired"
    ours = onnx_local.generate(prompt, glassllm_dir, 140, dtype="fp32")
    assert ours == numpy_greedy(glassllm, prompt, 140)


def test_sampling_with_a_seed_equals_glassllm_numpy(glassllm_dir, glassllm):
    model, tokenizer = glassllm
    prompt = "The Queen said"
    steps = model.generate(tokenizer.encode(prompt), 30, temperature=0.8, seed=7)
    expected = tokenizer.decode([step.token for step in steps])
    ours = onnx_local.generate(prompt, glassllm_dir, 30, temperature=0.8, seed=7, dtype="fp32")
    assert ours == expected
    assert ours != onnx_local.generate(prompt, glassllm_dir, 30, dtype="fp32")  # not greedy


def test_greedy_int8_is_deterministic(glassllm_dir):
    runs = {onnx_local.generate("Alice was beginning to", glassllm_dir, 32) for _ in range(3)}
    assert len(runs) == 1
    assert len(runs.pop()) > 32


def test_top_k_1_is_greedy(glassllm_dir):
    greedy = onnx_local.generate("The Queen said", glassllm_dir, 20)
    assert (
        onnx_local.generate("The Queen said", glassllm_dir, 20, temperature=1.5, top_k=1, seed=3)
        == greedy
    )


def test_steps_carry_tokens_and_their_text(glassllm_dir, glassllm):
    _, tokenizer = glassllm
    steps = list(onnx_local.generate_steps("Alice was", glassllm_dir, 12))
    assert [step.index for step in steps] == list(range(12))
    assert "".join(step.text for step in steps) == tokenizer.decode([s.token_id for s in steps])


def test_stopping_iteration_aborts_between_tokens(glassllm_dir):
    steps = onnx_local.generate_steps("Alice was", glassllm_dir, 100)
    first = [next(steps) for _ in range(3)]
    steps.close()
    assert [step.index for step in first] == [0, 1, 2]
    with pytest.raises(StopIteration):
        next(steps)


async def test_agenerate_reports_each_token_and_equals_generate(glassllm_dir):
    seen = []

    async def on_token(step):
        seen.append(step.index)

    text = await onnx_local.agenerate("The Queen said", glassllm_dir, 16, on_token=on_token)
    assert seen == list(range(16))
    assert text == onnx_local.generate("The Queen said", glassllm_dir, 16)


async def test_cancelling_agenerate_stops_between_tokens(glassllm_dir):
    seen = []
    cancelled_after = asyncio.Event()

    def on_token(step):
        seen.append(step.index)
        if step.index == 4:
            cancelled_after.set()

    task = asyncio.create_task(onnx_local.agenerate("Alice", glassllm_dir, 120, on_token=on_token))
    await cancelled_after.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(seen)
    await asyncio.sleep(0.05)
    assert len(seen) == count  # nothing ran after the cancellation
    assert count < 120


@pytest.mark.parametrize("delay", [0, 0.0005, 0.001, 0.002, 0.004])
async def test_cancelling_while_a_token_is_computed_raises_only_cancelled(glassllm_dir, delay):
    # Most of generation's time is inside the model call in a worker thread; a
    # cancellation there must not try to close the generator that thread runs.
    seen = []
    task = asyncio.create_task(
        onnx_local.agenerate("Alice", glassllm_dir, 120, on_token=lambda s: seen.append(s))
    )
    while not seen:
        await asyncio.sleep(0)
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(seen)
    await asyncio.sleep(0.05)
    assert len(seen) == count < 120


async def test_stream_generate_yields_steps(glassllm_dir):
    texts = [step.text async for step in onnx_local.stream_generate("Alice", glassllm_dir, 8)]
    assert len(texts) == 8
    assert "".join(texts) == onnx_local.generate("Alice", glassllm_dir, 8)


def test_zero_new_tokens_gives_empty_text(glassllm_dir):
    assert onnx_local.generate("Alice", glassllm_dir, 0) == ""


def test_eos_stops_generation(glassllm_dir, tmp_path):
    # A copy of the model whose config calls the first greedy token "end of sequence".
    first = next(onnx_local.generate_steps("Alice was", glassllm_dir, 1)).token_id
    copy = tmp_path / "glassllm"
    (copy / "onnx").mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "onnx/model_quantized.onnx"):
        (copy / name).write_bytes((glassllm_dir / name).read_bytes())
    config = json.loads((glassllm_dir / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "eos_token_id": first}))
    assert onnx_local.generate("Alice was", copy, 10) == ""
    assert onnx_local.generate("Alice was", copy, 10, stop_at_eos=False) != ""


# -- bad input ---------------------------------------------------------------------------


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="scripts/build-models"):
        onnx_local.generate("Alice", tmp_path / "missing", 5)


@pytest.mark.parametrize("prompt", ["", "  \n ", None, 42])
def test_empty_or_non_text_prompt_is_refused(glassllm_dir, prompt):
    with pytest.raises(ModelInputError, match="the prompt"):
        onnx_local.generate(prompt, glassllm_dir, 5)


@pytest.mark.parametrize(
    "options",
    [
        {"max_new_tokens": -1},
        {"temperature": -0.5},
        {"temperature": float("nan")},
        {"top_k": 0},
        {"dtype": "fp16"},
    ],
)
def test_bad_options_are_refused_before_any_work(glassllm_dir, options):
    with pytest.raises(ModelInputError):
        onnx_local.generate_steps("Alice", glassllm_dir, **options)


def test_over_long_prompt_is_an_error_by_default(glassllm_dir):
    prompt = "Alice said no. " * 40
    with pytest.raises(ContextLengthError, match=r"the prompt is \d+ tokens long") as caught:
        onnx_local.generate(prompt, glassllm_dir, 5)
    assert caught.value.limit == 128
    assert caught.value.n_tokens > 128


def test_over_long_prompt_keeps_its_end_with_a_warning_when_asked(glassllm_dir, glassllm):
    _, tokenizer = glassllm
    prompt = "Alice said no. " * 40
    with pytest.warns(onnx_local.ContextTruncatedWarning, match="last 128 tokens"):
        ours = onnx_local.generate(prompt, glassllm_dir, 10, truncate=True)
    tail = tokenizer.decode(tokenizer.encode(prompt)[-128:])
    assert ours == onnx_local.generate(tail, glassllm_dir, 10)


def test_an_embedding_model_is_not_a_generator(minilm_dir):
    with pytest.raises(ModelInputError, match="not a text generator"):
        onnx_local.generate("Alice", minilm_dir, 5)


def test_numpy_reference_is_float_exact_enough(glassllm_dir, glassllm):
    # Guards the comparison above: logits from the fp32 ONNX track numpy's closely.
    model, tokenizer = glassllm
    ids = tokenizer.encode("Alice was beginning to get very tired of sitting")
    loaded = onnx_local.load_model(glassllm_dir, dtype="fp32")
    decoder = onnx_local._Decoder(loaded)
    ours = decoder.logits(ids, ids)
    assert np.abs(ours - model.forward(ids).data[0, -1]).max() < 1e-4
