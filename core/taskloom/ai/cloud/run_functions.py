"""The cloud providers' run functions for the provider registry, and their model records.

    from taskloom.ai import catalog, providers
    from taskloom.ai.cloud import register
    register(providers, catalog)          # + openai=OpenAIProvider(api_key=…) to pass a key

A cloud model id is ``<provider>:<model name>:<variant>``, e.g.
``openai:gpt-4o-mini:api``; the name is what the API is asked for (unless
the record's ``metadata["model"]`` says otherwise) and the variant is a free
label. A record's metadata may point one model elsewhere — ``base_url`` (an
OpenAI-compatible local server), ``api_key_env`` (the *name* of the
variable that holds its key), ``timeout`` — but never hold a key: records
travel in job inputs and are stored.

Generation runs streamed, so the text so far reaches the job's progress
message (and from there the task's progress events) as it arrives.
TextQuestionAnswer's ``score`` is 1.0: a generated answer has no
extractive score to report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import JobPermanentError
from ...storage.models import ModelRecord
from ..providers import ModelCall, ProviderRegistry, RunFunction
from .anthropic import AnthropicProvider
from .base import CloudProvider
from .openai import OpenAIProvider
from .streaming import progress_callback

TEXT_TASKS = ("TextGeneration", "TextRewriter", "TextSummary", "TextQuestionAnswer",
              "TextTranslation")
EMBEDDING_TASKS = ("TextEmbedding",)
#: Metadata keys a record may use to change where and how its calls go.
SETTINGS_KEYS = ("base_url", "api_key_env", "timeout")
#: Metadata keys refused outright: records are stored and travel in job inputs.
SECRET_KEYS = frozenset({"api_key", "apikey", "key", "token", "auth_token", "authorization"})

#: Records that register() adds to a catalog, so these ids work out of the box.
DEFAULT_CLOUD_MODELS: tuple[ModelRecord, ...] = (
    ModelRecord("openai:gpt-4o-mini:api", tasks=TEXT_TASKS),
    ModelRecord("openai:gpt-4.1-mini:api", tasks=TEXT_TASKS),
    ModelRecord("openai:text-embedding-3-small:api", tasks=EMBEDDING_TASKS,
                metadata={"dimensions": 1536}),
    ModelRecord("anthropic:claude-haiku-4-5:api", tasks=TEXT_TASKS),
    ModelRecord("anthropic:claude-sonnet-4-5:api", tasks=TEXT_TASKS),
)


def cloud_model(model_id: str, *, tasks: Iterable[str] = TEXT_TASKS,
                **metadata: Any) -> ModelRecord:
    """A record for any cloud or OpenAI-compatible model, e.g.
    ``cloud_model("openai:llama3.2:local", base_url="http://127.0.0.1:8080/v1")``."""
    record = ModelRecord(model_id, tasks=tuple(tasks), metadata=metadata)
    _check_no_secret(record)
    return record


def _check_no_secret(record: ModelRecord) -> None:
    leaked = sorted(k for k in record.metadata if k.lower() in SECRET_KEYS)
    if leaked:
        raise JobPermanentError(
            f"model record {record.id!r} holds {', '.join(leaked)} in its metadata; records "
            "are stored and queued, so keys go in the environment: name the variable with "
            "api_key_env, or pass api_key to the provider given to register()")


def _provider_for(base: CloudProvider, record: ModelRecord) -> CloudProvider:
    _check_no_secret(record)
    changes = {k: record.metadata[k] for k in SETTINGS_KEYS if record.metadata.get(k)}
    return base.with_options(**changes) if changes else base


def _model_name(record: ModelRecord) -> str:
    return str(record.metadata.get("model") or record.name)


def _generation_options(call: ModelCall) -> dict[str, Any]:
    # Summaries, answers and translations take no generation options: the API's defaults.
    max_tokens = getattr(call.input, "max_new_tokens", None)
    temperature = getattr(call.input, "temperature", None)
    options: dict[str, Any] = {
        "model": _model_name(call.record), "stream": True, "signal": call.signal,
        "on_text": _streaming(call, progress_callback(call.progress, max_tokens)),
        "max_tokens": max_tokens}
    if temperature is not None:
        options["temperature"] = temperature
    return options


def _streaming(call: ModelCall, report: Any) -> Any:
    """An ``on_text`` that reports progress and streams each delta (``call.stream``)."""
    def on_text(delta: str, text: str) -> None:
        report(delta, text)
        call.stream(delta)

    return on_text


def run_functions(base: CloudProvider) -> dict[str, RunFunction]:
    """Task type → run function for one provider (every text task; embeddings if it has them)."""

    def finished(call: ModelCall, text: str) -> None:
        call.progress(1.0, text)

    async def text_generation(call: ModelCall) -> dict[str, Any]:
        provider = _provider_for(base, call.record)
        result = await provider.generate(call.input.prompt, **_generation_options(call))
        finished(call, result.text)
        return {"text": result.text}

    async def text_rewriter(call: ModelCall) -> dict[str, Any]:
        provider = _provider_for(base, call.record)
        result = await provider.rewrite(call.input.text, call.input.prompt,
                                        **_generation_options(call))
        finished(call, result.text)
        return {"text": result.text}

    async def text_summary(call: ModelCall) -> dict[str, Any]:
        provider = _provider_for(base, call.record)
        result = await provider.summarize(call.input.text,
                                          sentences=call.input.sentences,
                                          **_generation_options(call))
        finished(call, result.text)
        return {"text": result.text}

    async def text_question_answer(call: ModelCall) -> dict[str, Any]:
        provider = _provider_for(base, call.record)
        result = await provider.answer(call.input.question, call.input.context,
                                       **_generation_options(call))
        finished(call, result.text)
        return {"answer": result.text, "score": 1.0}

    async def text_translation(call: ModelCall) -> dict[str, Any]:
        provider = _provider_for(base, call.record)
        result = await provider.translate(call.input.text,
                                          target_language=call.input.target,
                                          source_language=call.input.source,
                                          **_generation_options(call))
        finished(call, result.text)
        return {"text": result.text}

    functions: dict[str, RunFunction] = {
        "TextGeneration": text_generation,
        "TextRewriter": text_rewriter,
        "TextSummary": text_summary,
        "TextQuestionAnswer": text_question_answer,
        "TextTranslation": text_translation,
    }
    if isinstance(base, OpenAIProvider):
        async def text_embedding(call: ModelCall) -> dict[str, Any]:
            provider = _provider_for(base, call.record)
            assert isinstance(provider, OpenAIProvider)
            result = await provider.embed([call.input.text], model=_model_name(call.record),
                                          signal=call.signal)
            call.progress(1.0, None)
            return {"vector": result.vectors[0]}

        functions["TextEmbedding"] = text_embedding
    return functions


def register(registry: ProviderRegistry | None = None, catalog: Any = None, *,
             openai: OpenAIProvider | None = None,
             anthropic: AnthropicProvider | None = None,
             models: Iterable[ModelRecord] = DEFAULT_CLOUD_MODELS) -> None:
    """Register the OpenAI and Anthropic run functions (and, given a catalog, ``models``).

    ``openai``/``anthropic`` are the providers to use (an explicit key, a
    ``base_url``, a browser ``http_client``); by default ones that read
    OPENAI_API_KEY / ANTHROPIC_API_KEY at each call. The SDKs are imported
    only when a call runs, so registering costs nothing where they are absent.
    """
    if registry is None:
        from ..providers import providers as registry
    for provider in (openai or OpenAIProvider(), anthropic or AnthropicProvider()):
        for task_type, function in run_functions(provider).items():
            registry.register(task_type, provider.name, function)
    if catalog is not None:
        for record in models:
            _check_no_secret(record)
            catalog.add(record)
