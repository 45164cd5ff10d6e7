"""taskloom: a task-graph engine for AI pipelines, in the browser (Pyodide) and under CPython.

The names below are the public API; everything else may change.
"""

from . import errors

# AI task types register on import, so graph JSON and Workflow can name them.
from .ai import (
    AiTask,
    DownloadModel,
    ModelRecord,
    Similarity,
    TextEmbedding,
    TextGeneration,
    TextQuestionAnswer,
    TextRewriter,
    TextSummary,
    TextTranslation,
)
from .cache import MemoryOutputRepository, TaskOutputRepository, cache_key, canonical_json
from .compound import GraphAsTask
from .dataflow import Dataflow
from .errors import (
    AiError,
    ContextLengthError,
    CorruptRecordError,
    CycleError,
    DataflowError,
    DuplicateTaskError,
    DuplicateTaskTypeError,
    GraphError,
    MissingInputError,
    ModelNotFoundError,
    ModelTaskError,
    PortError,
    PortTypeError,
    RecordNotFoundError,
    RunAbortedError,
    SchemaVersionError,
    SerializationError,
    StorageError,
    StoreUnavailableError,
    TaskAbortedError,
    TaskError,
    TaskFailedError,
    TaskInputError,
    TaskloomError,
    TaskNotFoundError,
    TaskOutputError,
    TaskTimeoutError,
    UnknownFunctionError,
    UnknownModelError,
    UnknownTaskTypeError,
    WorkflowError,
)
from .events import Event, EventEmitter, EventKind
from .graph import TaskGraph
from .ports import Format
from .registry import TaskRegistry, register_function, register_task, registry
from .runner import RunResult, TaskGraphRunner
from .storage import Store, open_store
from .task import AbortSignal, Task, TaskContext, TaskStatus
from .tasks import DebugLog, Lambda
from .workflow import Workflow

__version__ = "0.1.0"

__all__ = [
    "AbortSignal",
    "AiError",
    "AiTask",
    "ContextLengthError",
    "CorruptRecordError",
    "CycleError",
    "Dataflow",
    "DataflowError",
    "DebugLog",
    "DownloadModel",
    "DuplicateTaskError",
    "DuplicateTaskTypeError",
    "Event",
    "EventEmitter",
    "EventKind",
    "Format",
    "GraphAsTask",
    "GraphError",
    "Lambda",
    "MemoryOutputRepository",
    "MissingInputError",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelTaskError",
    "PortError",
    "PortTypeError",
    "RecordNotFoundError",
    "RunAbortedError",
    "RunResult",
    "SchemaVersionError",
    "SerializationError",
    "Similarity",
    "StorageError",
    "Store",
    "StoreUnavailableError",
    "Task",
    "TaskAbortedError",
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
    "TextEmbedding",
    "TextGeneration",
    "TextQuestionAnswer",
    "TextRewriter",
    "TextSummary",
    "TextTranslation",
    "UnknownFunctionError",
    "UnknownModelError",
    "UnknownTaskTypeError",
    "Workflow",
    "WorkflowError",
    "__version__",
    "cache_key",
    "canonical_json",
    "errors",
    "open_store",
    "register_function",
    "register_task",
    "registry",
]
