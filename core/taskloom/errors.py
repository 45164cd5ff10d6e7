"""Every error a taskloom user can see, in one place.

    TaskloomError
    ├── GraphError                  the graph was asked to become invalid; it is unchanged
    │   ├── CycleError              a dataflow would close a cycle
    │   ├── DuplicateTaskError      a task id is already in the graph
    │   ├── TaskNotFoundError       a dataflow or query names a task the graph lacks
    │   ├── PortError               a port name the task does not declare
    │   ├── PortTypeError           source and target port schemas are incompatible
    │   └── DataflowError           a second edge into a single-valued input, a missing edge
    ├── WorkflowError               the fluent builder could not connect a task
    ├── RegistryError
    │   ├── UnknownTaskTypeError    JSON names a type nobody registered
    │   ├── DuplicateTaskTypeError  two classes claim one type name
    │   └── UnknownFunctionError    a Lambda names a function nobody registered
    ├── SerializationError          malformed or unsupported graph JSON
    │   └── SchemaVersionError      JSON written by an unknown schema version
    ├── TaskError                   something went wrong while a task ran (has task_id)
    │   ├── TaskInputError          the input failed validation
    │   │   └── MissingInputError   a required input has no value (names task and port)
    │   ├── TaskOutputError         the task returned something that is not its Output
    │   ├── TaskFailedError         the task's own code raised (the cause is chained)
    │   ├── TaskTimeoutError        the task ran past its timeout
    │   └── TaskAbortedError        the task was aborted (by abort() or a failing sibling)
    ├── RunError                    a run as a whole
    │   └── RunAbortedError         the run was aborted before it finished
    ├── StorageError                a storage backend failed
    │   ├── CorruptRecordError      a stored record cannot be read (names the key)
    │   ├── RecordNotFoundError     no record under that key
    │   ├── StoreUnavailableError   the backend cannot be reached
    │   └── StoreURLError           a storage URL names no known backend or is malformed
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

Errors raised by ``TaskGraphRunner.run()`` carry the partial ``RunResult`` as
``error.result`` when a run fails part-way.
"""

from __future__ import annotations

from typing import Any


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


class RunError(TaskloomError):
    pass


class RunAbortedError(RunError):
    pass


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
