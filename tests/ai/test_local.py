"""taskloom.ai.local: a runtime adapter becomes run functions, through the runner and the queue.

The adapters here are small pure-Python ones, the shape a MediaPipe or
fastText adapter will have: they show what the shared layer does with any
adapter (the real ONNX adapters run in test_ai_tasks.py and the browser tests).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from taskloom.ai import ModelRecord, catalog, local, providers, stop_in_process_workers
from taskloom.ai.catalog import EMBEDDING_TASKS, GENERATION_TASKS, tasks_from_config
from taskloom.ai.providers import ModelCall, ProviderRegistry
from taskloom.ai.tasks import TextGeneration
from taskloom.workflow import Workflow


def letter_vector(text: str) -> list[float]:
    """Vowels against consonants, normalised: a toy embedding with a known geometry."""
    vowels = sum(c in "aeiou" for c in text.lower())
    consonants = sum(c.isalpha() and c not in "aeiou" for c in text.lower())
    norm = math.hypot(vowels, consonants)
    return [vowels / norm, consonants / norm]


class LetterEmbedder:
    """An adapter with one capability, ``embed``."""

    provider = "letters"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def model(self, call):
        return call.record.id

    async def embed(self, model, texts, truncate):
        self.calls.append(list(texts))
        return [letter_vector(text) for text in texts]


class EchoGenerator:
    """An adapter with one capability, ``generate``: repeats the prompt's last word."""

    provider = "echo"

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def model(self, call):
        return call.record.id

    async def generate(self, model, prompt, options, on_token):
        self.seen.append((prompt, options))
        word = prompt.split()[-1]
        for count in range(1, options.max_new_tokens + 1):
            on_token(count)
        return " ".join([word] * options.max_new_tokens)


@pytest.fixture
async def plugged():
    """Registers an adapter and a record serving ``tasks`` on the default registry and catalog."""
    registered: list[tuple[object, str]] = []

    def plug(adapter, tasks):
        local.register(adapter, providers)
        model_id = f"{adapter.provider}:toy:v1"
        catalog.add(ModelRecord(model_id, tasks=tasks))
        registered.append((adapter, model_id))
        return model_id

    yield plug
    await stop_in_process_workers()
    for adapter, model_id in registered:
        catalog.remove(model_id)
        for task_type in local.LocalProvider(adapter).run_functions():
            providers.unregister(task_type, adapter.provider)


def test_an_adapter_gets_the_run_functions_of_its_capabilities():
    registry = ProviderRegistry()
    local.register(LetterEmbedder(), registry)
    local.register(EchoGenerator(), registry)
    for task_type in EMBEDDING_TASKS:
        assert registry.providers_for(task_type) == ["letters"]
    for task_type in GENERATION_TASKS:
        assert registry.providers_for(task_type) == ["echo"]
    assert registry.providers_for("DownloadModel") == []  # neither can download
    assert registry.providers_for("TextTranslation") == []


async def test_embeddings_summary_and_answer_from_one_embed_method(plugged):
    embedder = LetterEmbedder()
    model = plugged(embedder, EMBEDDING_TASKS)
    texts = ["aeiou", "rhythm", "banana"]
    out = (await Workflow().text_embedding(model=model, text=texts).run()).output
    assert out["vector"] == [letter_vector(t) for t in texts]
    # One job per text, through the batcher (how they batch: test_batching.py).
    assert sorted(text for call in embedder.calls for text in call) == sorted(texts)

    context = "Aloe vera. Strengths. Ooh aah. Banana boat."
    summary = (await Workflow().text_summary(model=model, text=context, sentences=2).run())
    answer = (await Workflow().text_question_answer(model=model, question="Eau?",
                                                    context=context).run())
    assert summary.output["text"] == "Aloe vera. Banana boat."  # not the odd one out
    assert answer.output["answer"] == "Ooh aah."  # the most vowels, as the question
    assert answer.output["score"] == pytest.approx(2 / math.sqrt(5))  # 4 vowels, 2 consonants


async def test_generation_gets_the_validated_input_and_reports_each_token(plugged):
    generator = EchoGenerator()
    model = plugged(generator, GENERATION_TASKS)
    wf = Workflow().text_generation(model=model, prompt="say hello", max_new_tokens=3)
    assert (await wf.run()).output == {"text": "hello hello hello"}
    prompt, options = generator.seen[0]
    assert prompt == "say hello"
    assert isinstance(options, TextGeneration.Input)  # what the job's input validated to
    assert (options.max_new_tokens, options.temperature, options.top_k) == (3, 0.0, None)

    rewritten = await Workflow().text_rewriter(model=model, prompt="Echo:", text="the end",
                                               max_new_tokens=1).run()
    assert generator.seen[1][0] == local.rewrite_prompt("Echo:", "the end")
    assert rewritten.output == {"text": "end"}


async def test_generation_reports_progress_per_token():
    # The run function itself: which progress reports reach a graph depends on when
    # the job's waiter reads them (see the runner tests), not on this layer.
    seen: list[tuple[float, str | None]] = []
    call = ModelCall("TextGeneration", ModelRecord("echo:toy:v1", tasks=GENERATION_TASKS),
                     input=TextGeneration.Input(model="echo:toy:v1", prompt="a b",
                                                max_new_tokens=4),
                     models_dir=Path("unused"),
                     progress=lambda fraction, message=None: seen.append((fraction, message)))
    out = await local.LocalProvider(EchoGenerator()).text_generation(call)
    assert out == {"text": "b b b b"}
    assert seen == [(n / 4, f"{n}/4 tokens") for n in range(1, 5)]


@pytest.mark.parametrize(("config", "tasks"), [
    ({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, GENERATION_TASKS),
    ({"architectures": ["GPT2LMHeadModel"]}, GENERATION_TASKS),
    ({"architectures": ["BertModel"], "model_type": "bert"}, EMBEDDING_TASKS),
    ({"model_type": "t5"}, ()),
    (None, ()),
])
def test_a_models_config_says_which_tasks_it_serves(config, tasks):
    assert tasks_from_config(config) == list(tasks)
