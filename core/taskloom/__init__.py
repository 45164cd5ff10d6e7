"""taskloom: a task-graph engine for AI pipelines, in the browser (Pyodide) and under CPython.

The names below are the public API; everything else may change.

``import taskloom`` loads the core only. The AI layer (``taskloom.ai``: its
tasks, providers and cloud clients) loads the first time one of its names is
used: ``taskloom.TextEmbedding`` (module ``__getattr__``), a graph or a
``Workflow`` naming an AI task type (the registry's lazy built-ins), or
``import taskloom.ai``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .ai import (
        AiTask,
        DownloadModel,
        Similarity,
        TextClassification,
        TextEmbedding,
        TextGeneration,
        TextLanguageDetection,
        TextQuestionAnswer,
        TextRewriter,
        TextSummary,
        TextTranslation,
    )
from .cache import MemoryOutputRepository, TaskOutputRepository, cache_key, canonical_json
from .codegen import from_code, to_code
from .compound import GraphAsTask
from .conditions import Condition, ConditionError, ConditionEvalError
from .dataflow import Dataflow
from .errors import (
    AiError,
    CodeError,
    ContextLengthError,
    CorruptRecordError,
    CycleError,
    DataflowError,
    DuplicateTaskError,
    DuplicateTaskTypeError,
    GraphError,
    JobFailedError,
    JobPermanentError,
    JobRetryableError,
    MissingInputError,
    ModelNotFoundError,
    ModelTaskError,
    PortError,
    PortTypeError,
    QueueError,
    RecordNotFoundError,
    RefusedCodeError,
    RunAbortedError,
    RunOwnedError,
    SchemaVersionError,
    SerializationError,
    StaleJobError,
    StorageError,
    StoreUnavailableError,
    StreamClosedError,
    TaskAbortedError,
    TaskConfigError,
    TaskError,
    TaskFailedError,
    TaskInputError,
    TaskloomError,
    TaskNotFoundError,
    TaskOutputError,
    TaskTimeoutError,
    UnknownFunctionError,
    UnknownModelError,
    UnknownQueueError,
    UnknownTaskTypeError,
    WorkflowError,
)
from .events import Event, EventEmitter, EventKind
from .graph import TaskGraph
from .ports import Format
from .queue import (
    CompositeLimiter,
    ConcurrencyLimiter,
    DelayLimiter,
    Job,
    JobQueue,
    JobQueueTask,
    JobStatus,
    RateLimiter,
    Worker,
    open_queue_storage,
    queues,
)
from .registry import TaskRegistry, register_function, register_task, registry
from .runner import RunResult, TaskGraphRunner
from .storage import Store, open_store
from .storage.models import ModelRecord
from .streams import Streaming, TextStream
from .task import AbortSignal, Task, TaskContext, TaskStatus
from .tasks import DebugLog, Lambda
from .tasks.control import Fallback, If, Map, Reduce, While, WhileLimitError
from .transforms import TransformError
from .workflow import Workflow

__version__ = "0.1.0"

_AI_TASKS = "taskloom.ai.tasks"
#: Public names that live in the AI layer, and the module that defines each.
_LAZY_NAMES = {
    "AiTask": "taskloom.ai.task",
    **dict.fromkeys(
        ("DownloadModel", "Similarity", "TextEmbedding", "TextGeneration",
         "TextQuestionAnswer", "TextRewriter", "TextSummary", "TextTranslation",
         "TextLanguageDetection", "TextClassification"),
        _AI_TASKS),
}
# Graph JSON and Workflow name the AI task types before anything imported them.
registry.register_lazy(_AI_TASKS, *(n for n, m in _LAZY_NAMES.items() if m == _AI_TASKS))
# Documents, SQL, vectors and JavaScript load the same way, when a graph or Workflow names them.
registry.register_lazy("taskloom.tasks.documents", "LoadDocument", "WriteFile", "DocumentSplitter")
registry.register_lazy("taskloom.tasks.sql", "SqlQuery", "SqlWrite")
registry.register_lazy("taskloom.tasks.vectors", "VectorUpsert", "SaveToDatabase", "VectorSearch")
registry.register_lazy("taskloom.tasks.javascript", "JavaScript")


def __getattr__(name: str) -> Any:
    if name == "ai":  # `import taskloom; taskloom.ai.catalog` worked when ai loaded eagerly
        return importlib.import_module("taskloom.ai")
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'taskloom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_NAMES})


__all__ = [
    "AbortSignal",
    "AiError",
    "AiTask",
    "CodeError",
    "CompositeLimiter",
    "ConcurrencyLimiter",
    "Condition",
    "ConditionError",
    "ConditionEvalError",
    "ContextLengthError",
    "CorruptRecordError",
    "CycleError",
    "Dataflow",
    "DataflowError",
    "DebugLog",
    "DelayLimiter",
    "DownloadModel",
    "DuplicateTaskError",
    "DuplicateTaskTypeError",
    "Event",
    "EventEmitter",
    "EventKind",
    "Fallback",
    "Format",
    "GraphAsTask",
    "GraphError",
    "If",
    "Job",
    "JobFailedError",
    "JobPermanentError",
    "JobQueue",
    "JobQueueTask",
    "JobRetryableError",
    "JobStatus",
    "Lambda",
    "Map",
    "MemoryOutputRepository",
    "MissingInputError",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelTaskError",
    "PortError",
    "PortTypeError",
    "QueueError",
    "RateLimiter",
    "RecordNotFoundError",
    "Reduce",
    "RefusedCodeError",
    "RunAbortedError",
    "RunOwnedError",
    "RunResult",
    "SchemaVersionError",
    "SerializationError",
    "Similarity",
    "StaleJobError",
    "StorageError",
    "Store",
    "StoreUnavailableError",
    "StreamClosedError",
    "Streaming",
    "Task",
    "TaskAbortedError",
    "TaskConfigError",
    "TaskContext",
    "TaskError",
    "TaskFailedError",
    "TaskGraph",
    "TaskGraphRunner",
    "TaskInputError",
    "TaskNotFoundError",
    "TaskOutputError",
    "TaskOutputRepository",
    "TaskRegistry",
    "TaskStatus",
    "TaskTimeoutError",
    "TaskloomError",
    "TextClassification",
    "TextEmbedding",
    "TextGeneration",
    "TextLanguageDetection",
    "TextQuestionAnswer",
    "TextRewriter",
    "TextStream",
    "TextSummary",
    "TextTranslation",
    "TransformError",
    "UnknownFunctionError",
    "UnknownModelError",
    "UnknownQueueError",
    "UnknownTaskTypeError",
    "While",
    "WhileLimitError",
    "Worker",
    "Workflow",
    "WorkflowError",
    "__version__",
    "cache_key",
    "canonical_json",
    "errors",
    "from_code",
    "open_queue_storage",
    "open_store",
    "queues",
    "register_function",
    "register_task",
    "registry",
    "to_code",
]
