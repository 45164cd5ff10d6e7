"""The public API is what taskloom.__all__ says; this guards it against drift."""

import importlib

import pytest

import taskloom

EXPECTED = {
    "AbortSignal", "CycleError", "Dataflow", "DataflowError", "DebugLog",
    "DuplicateTaskError", "DuplicateTaskTypeError", "Event", "EventEmitter", "EventKind",
    "Format", "GraphAsTask", "GraphError", "Lambda", "MemoryOutputRepository",
    "MissingInputError", "PortError", "PortTypeError", "RunAbortedError", "RunResult",
    "SchemaVersionError", "SerializationError", "Task", "TaskAbortedError", "TaskContext",
    "TaskError", "TaskFailedError", "TaskGraph", "TaskGraphRunner", "TaskInputError",
    "TaskNotFoundError", "TaskOutputError", "TaskOutputRepository", "TaskRegistry",
    "TaskStatus", "TaskTimeoutError", "TaskloomError", "UnknownFunctionError",
    "UnknownTaskTypeError", "Workflow", "WorkflowError", "__version__", "cache_key",
    "canonical_json", "errors", "register_function", "register_task", "registry",
    "CorruptRecordError", "RecordNotFoundError", "StorageError", "Store",
    "StoreUnavailableError", "open_store",
    "AiError", "AiTask", "ContextLengthError", "DownloadModel", "ModelNotFoundError",
    "ModelRecord", "ModelTaskError", "Similarity", "TextEmbedding", "TextGeneration",
    "TextQuestionAnswer", "TextRewriter", "TextSummary", "TextTranslation",
    "TextLanguageDetection", "TextClassification",
    "UnknownModelError",
    "CompositeLimiter", "ConcurrencyLimiter", "DelayLimiter", "Job", "JobQueue",
    "JobQueueTask", "JobStatus", "RateLimiter", "Worker", "open_queue_storage", "queues",
    "JobFailedError", "JobPermanentError", "JobRetryableError", "QueueError",
    "StaleJobError", "UnknownQueueError",
    "CodeError", "RefusedCodeError", "from_code", "to_code", "RunOwnedError",
    "TaskConfigError",
    "Condition", "ConditionError", "ConditionEvalError", "Fallback", "If", "Map", "Reduce",
    "TransformError", "While", "WhileLimitError",
    "StreamClosedError", "Streaming", "TextStream",
}


def test_all_is_exactly_the_public_api():
    assert set(taskloom.__all__) == EXPECTED


def test_every_public_name_exists_and_is_defined_in_taskloom():
    for name in taskloom.__all__:
        value = getattr(taskloom, name)
        module = getattr(value, "__module__", "taskloom")
        assert module is None or module.startswith("taskloom"), name


def test_every_error_derives_from_the_one_base():
    for name in taskloom.__all__:
        value = getattr(taskloom, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, taskloom.TaskloomError), name


def test_import_needs_no_optional_dependency():
    import subprocess
    import sys

    code = ("import sys; import taskloom; "
            "bad = [m for m in ('psycopg', 'onnxruntime', 'openai', 'anthropic', 'js', 'rich') "
            "if m in sys.modules]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_ai_names_resolve_lazily_to_their_defining_objects():
    for name, module in taskloom._LAZY_NAMES.items():
        assert name in taskloom.__all__, name
        assert name in dir(taskloom), name
        assert getattr(taskloom, name) is getattr(importlib.import_module(module), name), name
    from taskloom import TextEmbedding

    assert TextEmbedding is taskloom.registry.get("TextEmbedding")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        taskloom.NoSuchThing  # noqa: B018
