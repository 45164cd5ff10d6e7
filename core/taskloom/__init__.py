"""taskloom: a task-graph engine for AI pipelines, in the browser (Pyodide) and under CPython.

The names below are the public API; everything else may change.
"""

from . import errors
from .cache import MemoryOutputRepository, TaskOutputRepository, cache_key, canonical_json
from .compound import GraphAsTask
from .dataflow import Dataflow
from .errors import (
    CorruptRecordError,
    CycleError,
    DataflowError,
    DuplicateTaskError,
    DuplicateTaskTypeError,
    GraphError,
    MissingInputError,
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
    "CorruptRecordError",
    "CycleError",
    "Dataflow",
    "DataflowError",
    "DebugLog",
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
    "PortError",
    "PortTypeError",
    "RecordNotFoundError",
    "RunAbortedError",
    "RunResult",
    "SchemaVersionError",
    "SerializationError",
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
    "UnknownFunctionError",
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
