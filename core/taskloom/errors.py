"""Every error a taskloom user can see, in one place.

    TaskloomError
    ├── GraphError                  the graph was asked to become invalid; it is unchanged
    │   ├── CycleError              a dataflow would close a cycle
    │   ├── DuplicateTaskError      a task id is already in the graph
    │   ├── TaskNotFoundError       a dataflow or query names a task the graph lacks
    │   ├── PortError               a port name the task does not declare
    │   ├── PortTypeError           source and target port schemas are incompatible
    │   └── DataflowError           a second edge into a single-valued input, a missing edge
    ├── TaskConfigError             a task's id or config field (timeout, cacheable, …) is invalid
    ├── WorkflowError               the fluent builder could not connect a task
    ├── RegistryError
    │   ├── UnknownTaskTypeError    JSON names a type nobody registered
    │   ├── DuplicateTaskTypeError  two classes claim one type name
    │   └── UnknownFunctionError    a Lambda names a function nobody registered
    ├── SerializationError          malformed or unsupported graph JSON
    │   ├── SchemaVersionError      JSON written by an unknown schema version
    │   ├── CodeError               Workflow code that from_code cannot build (has line, column)
    │   │   └── RefusedCodeError    a construct outside from_code's allowlist (import, call, …)
    │   └── CodeNotAllowedError     a graph from elsewhere holds code (JavaScript, Lambda)
    ├── TaskError                   something went wrong while a task ran (has task_id)
    │   ├── TaskInputError          the input failed validation
    │   │   └── MissingInputError   a required input has no value (names task and port)
    │   ├── TaskOutputError         the task returned something that is not its Output
    │   ├── TaskFailedError         the task's own code raised (the cause is chained)
    │   ├── TaskTimeoutError        the task ran past its timeout
    │   ├── TaskAbortedError        the task was aborted (by abort() or a failing sibling)
    │   ├── StreamClosedError       a stream read by a task ended before its producer completed
    │   ├── FileAccessError         a path outside the file root, missing or unreadable (has path)
    │   ├── DocumentError           a file that is binary or malformed for its format (has path)
    │   ├── SqlError                the database refused a statement; nothing was written
    │   └── JavaScriptError         user JavaScript threw (the message carries its stack)
    │       ├── JavaScriptTimeoutError  it ran past its time limit (an endless loop)
    │       └── JavaScriptMemoryError   it went over its memory limit
    ├── RunError                    a run as a whole
    │   ├── RunAbortedError         the run was aborted before it finished
    │   ├── RunOwnedError           another live runner holds the run's owner lease
    │   └── RunInAnotherTabError    the page: another tab is running this run
    ├── StorageError                a storage backend failed
    │   ├── CorruptRecordError      a stored record cannot be read (names the key)
    │   ├── RecordNotFoundError     no record under that key
    │   ├── StoreUnavailableError   the backend cannot be reached
    │   ├── StoreURLError           a storage URL names no known backend or is malformed
    │   └── VectorStoreError        a vector store refused an operation (dimensions, backend)
    ├── QueueError                  the job queue refused an operation
    │   ├── JobNotFoundError
    │   ├── StaleJobError           a completion carried an outdated attempt (fencing)
    │   ├── JobFailedError          awaited job ended failed or aborted
    │   ├── JobInputError           job input is not JSON (nothing was stored)
    │   ├── JobStateError           the job's status forbids it (abort of a finished job)
    │   ├── UnknownQueueError       no queue is registered under that name
    │   ├── JobRetryableError       raised by a job body: try again later (retry_after)
    │   └── JobPermanentError       raised by a job body: retrying cannot help
    └── AiError                     a model could not serve a request
        ├── ModelNotFoundError      the model folder or one of its files is missing (has path)
        ├── ModelDependencyError    an optional package the provider needs is not installed
        ├── UnknownModelError       no model record has that id (has model_id)
        ├── ModelTaskError          the model does not serve that task type, or no provider runs it
        ├── ModelDownloadError      a model's files could not be fetched (has url)
        └── ModelInputError         the text cannot be given to the model (empty, wrong type)
            └── ContextLengthError  the text is longer than the model's context (has limits)

AI errors other than AiError itself and ModelDownloadError are ``retryable = False``:
a job queue fails them at once instead of trying the same input again.

A pydantic ``ValidationError`` reaches users only through
``format_validation_error()`` (at the end of this module): one line that names
the place (task, port, JSON path) and the problem, never the value itself.

Errors raised by ``TaskGraphRunner.run()`` carry the partial ``RunResult`` as
``error.result`` when a run fails part-way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class TaskloomError(Exception):
    """Base class of every error taskloom raises on purpose."""

    #: The partial result of a run that failed, when the error ended one.
    result: Any = None


# -- graph construction -------------------------------------------------------


class GraphError(TaskloomError):
    """The graph was asked to become invalid. It is left as it was."""


class CycleError(GraphError):
    def __init__(self, message: str, cycle: list[str] | None = None):
        super().__init__(message)
        self.cycle = cycle or []


class DuplicateTaskError(GraphError):
    pass


class TaskNotFoundError(GraphError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PortError(GraphError):
    pass


class PortTypeError(GraphError, TypeError):
    pass


class DataflowError(GraphError):
    pass


class TaskConfigError(TaskloomError, ValueError):
    """A task's id or a config field is invalid; the message names the task and the field."""


class WorkflowError(TaskloomError):
    pass


# -- registry and serialisation ----------------------------------------------


class RegistryError(TaskloomError):
    pass


class UnknownTaskTypeError(RegistryError):
    pass


class DuplicateTaskTypeError(RegistryError):
    pass


class UnknownFunctionError(RegistryError):
    pass


class SerializationError(TaskloomError, ValueError):
    pass


class SchemaVersionError(SerializationError):
    pass


class CodeError(SerializationError):
    """Workflow code that ``from_code`` cannot turn into a graph.

    ``line`` and ``column`` (both from 1) say where; the message starts with them.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.column = column


class RefusedCodeError(CodeError):
    """A construct outside ``from_code``'s allowlist: an import, a call, an attribute, …"""


# -- running -----------------------------------------------------------------


class TaskError(TaskloomError):
    """Something went wrong while a task ran. ``task_id`` names it."""

    def __init__(self, message: str, task_id: str | None = None):
        super().__init__(message)
        self.task_id = task_id


class TaskInputError(TaskError, ValueError):
    pass


class MissingInputError(TaskInputError):
    def __init__(self, message: str, task_id: str | None = None, port: str | None = None):
        super().__init__(message, task_id)
        self.port = port


class TaskOutputError(TaskError, ValueError):
    pass


class TaskFailedError(TaskError):
    pass


class TaskTimeoutError(TaskError, TimeoutError):
    pass


class TaskAbortedError(TaskError):
    pass


class StreamClosedError(TaskError):
    """A streaming input's producer failed, was aborted or was skipped mid-stream."""


class RunError(TaskloomError):
    pass


class RunAbortedError(RunError):
    pass


class RunOwnedError(RunError):
    """Another runner holds this run's owner lease, so it may not be resumed here.

    ``owner`` names the holder (``host:pid``); ``expires_at`` (epoch seconds) is when
    its lease runs out unless it is renewed.
    """

    def __init__(self, message: str, owner: str | None = None,
                 expires_at: float | None = None):
        super().__init__(message)
        self.owner = owner
        self.expires_at = expires_at


class RunInAnotherTabError(RunError):
    """The page: another tab holds this run's Web Lock, so this tab may not resume it."""


# -- storage and queues ----------------------------------------------------------


class StorageError(TaskloomError):
    pass


class CorruptRecordError(StorageError):
    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class RecordNotFoundError(StorageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StoreUnavailableError(StorageError):
    pass


class StoreURLError(StorageError, ValueError):
    pass


class QueueError(TaskloomError):
    pass


class JobNotFoundError(QueueError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StaleJobError(QueueError):
    pass


class JobFailedError(QueueError):
    pass


class JobInputError(QueueError, ValueError):
    pass


class JobStateError(QueueError):
    pass


class UnknownQueueError(QueueError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class JobRetryableError(QueueError):
    """Raise from a job body to ask for a retry, optionally not before ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class JobPermanentError(QueueError):
    """Raise from a job body when another attempt cannot succeed: the job fails at once."""


# -- AI models ---------------------------------------------------------------------


class AiError(TaskloomError):
    """A model could not serve a request."""


class ModelNotFoundError(AiError, FileNotFoundError):
    """The model folder, or a file it must hold, is missing. ``path`` names it."""

    retryable = False

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class ModelDependencyError(AiError, ImportError):
    """An optional package the provider needs is not installed (the message names the extra)."""

    retryable = False


class UnknownModelError(AiError, KeyError):
    """No model record has this id. ``model_id`` names it."""

    retryable = False

    def __init__(self, message: str, model_id: str | None = None):
        super().__init__(message)
        self.model_id = model_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelTaskError(AiError):
    """The model does not serve this task type, or no provider runs it here."""

    retryable = False


class ModelDownloadError(AiError):
    """A model's files could not be fetched. ``url`` names the one that failed."""

    def __init__(self, message: str, url: str | None = None):
        super().__init__(message)
        self.url = url


class ModelInputError(AiError, ValueError):
    """The input cannot be given to the model: empty text, a wrong type, a bad option."""

    retryable = False


class ContextLengthError(ModelInputError):
    """The text needs more tokens than the model's context holds."""

    def __init__(self, message: str, n_tokens: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.n_tokens = n_tokens
        self.limit = limit


# -- documents, databases, vectors, JavaScript ---------------------------------------


class FileAccessError(TaskError, PermissionError):
    """A path outside the task's file root, or one that is missing or unreadable."""

    def __init__(self, message: str, path: str | None = None, task_id: str | None = None):
        super().__init__(message, task_id)
        self.path = path


class DocumentError(TaskError, ValueError):
    """A file that is binary, or malformed for the format it was read as."""

    def __init__(self, message: str, path: str | None = None, task_id: str | None = None):
        super().__init__(message, task_id)
        self.path = path


class SqlError(TaskError):
    """The database refused a statement (the driver's error is chained); nothing was written."""


class VectorStoreError(StorageError):
    """A vector store refused an operation: mixed dimensions, a bad filter, a backend failure."""


class JavaScriptError(TaskError):
    """User JavaScript threw; the message carries the JavaScript error and its stack."""


class JavaScriptTimeoutError(JavaScriptError):
    """User JavaScript ran past its time limit (an endless loop, or too much work)."""


class JavaScriptMemoryError(JavaScriptError):
    """User JavaScript went over its memory limit."""


class CodeNotAllowedError(SerializationError):
    """A graph from elsewhere holds code (JavaScript, Lambda) that was not allowed to run."""


# -- formatting ----------------------------------------------------------------------


def format_path(loc: Iterable[Any], *, start: str = "") -> str:
    """A pydantic ``loc`` as a JSON path: ``tasks[3].defaults.name``."""
    out = start
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier() and part.isascii():
            out += f".{part}" if out else part
        else:  # keys with spaces, empty keys, surrogates: quoted and escaped
            out += f"[{part!r}]" if isinstance(part, str) else f"[{str(part)!r}]"
    return out


def format_validation_error(exc: ValidationError, *, where: str, path: str = "",
                            skip: int = 0, limit: int = 3) -> str:
    """One line for a pydantic ``ValidationError``: the place, then each problem.

    ``where`` names what was validated (``"task 'a' (Greet): input 'name'"``);
    ``path`` is prepended to each error's location so it reads as a JSON path
    into the document the user wrote; ``skip`` drops that many leading location
    parts that ``where`` already names (the port, when one value was validated
    as an assignment). Only the first ``limit`` problems are
    listed: a 10,000-item list with one bad item type gives one line, not 10,000.
    The value itself is never quoted, since it may be huge or a secret.
    """
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for err in errors[:limit]:
        loc = format_path(tuple(err.get("loc", ()))[skip:], start=path)
        msg = " ".join(str(err.get("msg", "invalid")).split())
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = len(errors) - limit
    text = "; ".join(parts) or "invalid"
    if more > 0:
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return f"{where}: {text}" if where else text
