"""Task: the unit of work. Ports are two pydantic models, ``Input`` and ``Output``.

    class Upper(Task):
        class Input(BaseModel):
            text: str
        class Output(BaseModel):
            text: str
        async def run(self, input, ctx):
            return {"text": input.text.upper()}

Subclasses register themselves in the default registry under ``type``
(default: the class name); pass ``register=False`` in the class statement to
opt out, as abstract bases do.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import to_jsonable_python

from .errors import (
    PortError,
    SerializationError,
    TaskConfigError,
    TaskInputError,
    format_validation_error,
)
from .ports import PortSet, ports_of
from .registry import registry
from .streams import TextStream


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


class _TaskConfig(BaseModel):
    # Strict: graph JSON is user input, and lax mode would read "no" as True for
    # cacheable and "12" as 12 s for timeout.
    model_config = ConfigDict(extra="forbid", strict=True)
    title: str | None = None
    cacheable: bool | None = None
    timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    queue: Annotated[str, Field(min_length=1)] | None = None


_CONFIG_KEYS = set(_TaskConfig.model_fields)
_TERMINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.ABORTED, TaskStatus.SKIPPED}


class AbortSignal:
    """Set once when a task (or its whole run) should stop.

    Long-running tasks check ``signal.aborted`` or ``await signal.wait()``;
    the runner also cancels the task's coroutine, so a task that never checks
    still stops at its next ``await``.
    """

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.reason: str | None = None

    @property
    def aborted(self) -> bool:
        return self.reason is not None

    def abort(self, reason: str = "aborted") -> None:
        if self.reason is None:
            self.reason = reason
            if self._event is not None:
                self._event.set()

    async def wait(self) -> str:
        if self.reason is None:
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        return self.reason or "aborted"

    def raise_if_aborted(self) -> None:
        if self.reason is not None:
            raise asyncio.CancelledError(self.reason)


class TaskContext:
    """What a running task can use besides its input."""

    __slots__ = ("_on_stream", "_progress_fn", "_report", "logger", "run_id", "services",
                 "signal", "task_id")

    def __init__(
        self,
        run_id: str,
        task_id: str,
        signal: AbortSignal,
        on_progress: Callable[[float, str | None, dict[str, Any] | None], None] | None = None,
        logger: logging.Logger | None = None,
        services: dict[str, Any] | None = None,
        on_stream: Callable[[str, str], None] | None = None,
        *,
        report: Callable[[str, float, str | None, dict[str, Any] | None], None] | None = None,
    ):
        self.run_id = run_id
        self.task_id = task_id
        self.signal = signal
        self.logger = logger or logging.getLogger(f"taskloom.task.{task_id}")
        # Storage handles, queues, providers: whatever the runner was given.
        self.services = services or {}
        self._progress_fn = on_progress
        # report(task_id, fraction, message, details): one callable for a whole run,
        # made this task's on_progress only if the task reports progress at all.
        self._report = report
        self._on_stream = on_stream

    @property
    def _on_progress(self) -> Callable[[float, str | None, dict[str, Any] | None], None] | None:
        progress = self._progress_fn
        if progress is None and self._report is not None:
            progress = self._progress_fn = functools.partial(self._report, self.task_id)
        return progress

    def stream(self, port: str, delta: str) -> None:
        """Send ``delta``, the next piece of the streaming output ``port``'s text.

        The deltas joined must be the text the task returns for ``port``: a
        ``task_stream`` event goes out for each, and a downstream task that reads
        the port as a :class:`~taskloom.streams.TextStream` gets it at once.
        """
        if self._on_stream is not None and delta:
            self._on_stream(port, delta)

    def progress(self, fraction: float, message: str | None = None, **details: Any) -> None:
        """Report progress between 0 and 1, with an optional message."""
        report = self._on_progress
        if report is not None:
            fraction = 0.0 if fraction < 0 else 1.0 if fraction > 1 else float(fraction)
            report(fraction, message, details or None)


async def gather_or_cancel(awaitables: Iterable[Awaitable[Any]]) -> list[Any]:
    """The results of ``awaitables``, run concurrently, in order. The first failure cancels
    the others, waits for them to end and is raised: ``asyncio.gather`` would leave them
    running, and a TaskGroup would raise an ExceptionGroup instead of the error."""
    runs = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return await asyncio.gather(*runs)
    except BaseException:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        raise


def _plain(value: Any) -> Any:
    # A TextStream input's default is kept as its text: defaults are graph JSON.
    return value.value if isinstance(value, TextStream) else value


def _default_title(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append(" ")
        out.append(ch)
    return "".join(out)


class Task:
    """Base class of every task. See the module docstring."""

    type: ClassVar[str] = "Task"
    category: ClassVar[str] = "general"
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    cacheable: ClassVar[bool] = True
    version: ClassVar[str] = "1"

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        pass

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" not in cls.__dict__:
            cls.type = cls.__name__
        if "title" not in cls.__dict__:
            cls.title = _default_title(cls.__name__)
        if "description" not in cls.__dict__ and cls.__doc__:
            cls.description = cls.__doc__.strip().split("\n\n")[0]
        for side in ("Input", "Output"):
            model = getattr(cls, side)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{cls.__name__}.{side} must be a pydantic BaseModel subclass")
        if register:
            registry.register(cls)

    # -- instances -------------------------------------------------------------

    def __init__(
        self,
        id: str | None = None,
        defaults: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        cacheable: bool | None = None,
        timeout: float | None = None,
        queue: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self.id = id if id is not None else f"{self.type.lower()}-{uuid.uuid4().hex[:8]}"
        if not isinstance(self.id, str) or not self.id:
            raise TaskConfigError(f"a task id must be a non-empty string, not {self.id!r}")
        if title is not None or cacheable is not None or timeout is not None \
                or queue is not None:
            try:
                _TaskConfig(title=title, cacheable=cacheable, timeout=timeout, queue=queue)
            except ValidationError as exc:
                raise TaskConfigError(format_validation_error(
                    exc, where=f"task {self.id!r} ({self.type})", path="config")) from None
        self.config_title = title
        self.config_cacheable = cacheable
        self.timeout = timeout
        self.queue = queue
        if metadata:
            self._metadata = dict(metadata)
        if defaults:
            self.set_defaults(defaults)

    # Both made on first use: most tasks of a big graph have neither, and two empty
    # dicts were half the memory of a task.
    _metadata: dict[str, Any] | None = None
    _defaults: dict[str, Any] | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form data that travels with the task, e.g. {"ui": {"x": 120, "y": 40}}."""
        metadata = self._metadata
        if metadata is None:
            metadata = self._metadata = {}
        return metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._metadata = value

    @property
    def defaults(self) -> dict[str, Any]:
        """Input values given to the task itself, by port name (validated)."""
        defaults = self._defaults
        if defaults is None:
            defaults = self._defaults = {}
        return defaults

    @defaults.setter
    def defaults(self, value: dict[str, Any]) -> None:
        self._defaults = value

    def default_values(self) -> dict[str, Any]:
        """A new dict of the defaults (what a run starts a task's input from)."""
        defaults = self._defaults
        return dict(defaults) if defaults else {}

    def _plain_entry(self) -> bool:
        """Whether this task's graph-JSON entry is just {id, type, defaults: {}}."""
        return (type(self).to_json is Task.to_json and not self._defaults
                and not self._metadata and self.config_title is None
                and self.config_cacheable is None and self.timeout is None
                and self.queue is None and type(self).config is Task.config
                and type(self.type) is str)

    # Ports are looked up through the instance: compound tasks derive theirs.
    @property
    def input_model(self) -> type[BaseModel]:
        return self.Input

    @property
    def output_model(self) -> type[BaseModel]:
        return self.Output

    @property
    def input_ports(self) -> PortSet:
        return ports_of(self.input_model)

    @property
    def output_ports(self) -> PortSet:
        return ports_of(self.output_model)

    @property
    def is_cacheable(self) -> bool:
        return self.cacheable if self.config_cacheable is None else self.config_cacheable

    @property
    def runs_many(self) -> bool:
        """Whether an array expansion hands this task all its items in one ``run_many``."""
        return False

    @property
    def display_title(self) -> str:
        return self.config_title or self.title or self.type

    def set_defaults(self, values: dict[str, Any]) -> None:
        """Validate ``values`` port by port and merge them into ``defaults``.

        A list given to a single-valued port is allowed (it triggers array
        expansion); each of its items is validated instead.
        """
        checked = {name: self._validate_port_value(name, value) for name, value in values.items()}
        if checked:
            self.defaults.update(checked)

    def _validate_port_value(self, name: str, value: Any) -> Any:
        ports = self.input_ports
        port = ports.get(name)
        if port is None:
            known = ", ".join(ports.names()) or "none"
            raise PortError(f"task {self.id!r} ({self.type}) has no input port {name!r}; "
                            f"its inputs are: {known}")
        if name not in ports.by_name:
            return value  # an open model's extra port: anything goes
        model = self.input_model
        validator = model.__pydantic_validator__
        blank = model.model_construct()
        try:
            if isinstance(value, list) and port.expandable:
                return [_plain(getattr(validator.validate_assignment(blank, name, item), name))
                        for item in value]
            return _plain(getattr(validator.validate_assignment(blank, name, value), name))
        except ValidationError as exc:
            raise TaskInputError(format_validation_error(
                exc, where=f"task {self.id!r} ({self.type}): bad default for input {name!r}",
                skip=1), self.id) from None

    def config(self) -> dict[str, Any]:
        """The instance's configuration, as stored in graph JSON."""
        out: dict[str, Any] = {}
        if self.config_title is not None:
            out["title"] = self.config_title
        if self.config_cacheable is not None:
            out["cacheable"] = self.config_cacheable
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.queue is not None:
            out["queue"] = self.queue
        return out

    # -- serialisation -------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """This task's entry in graph JSON."""
        entry: dict[str, Any] = {"id": self.id, "type": self.type,
                                 "defaults": to_jsonable_python(self._defaults)
                                 if self._defaults else {}}
        config = self.config()
        if config:
            entry["config"] = config
        if self._metadata:
            entry["metadata"] = to_jsonable_python(self._metadata)
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], registry: Any = None) -> Task:
        """Rebuild an instance from its graph-JSON entry (after the registry lookup)."""
        config = entry.get("config") or {}
        unknown = set(config) - _CONFIG_KEYS if config else None
        if unknown:
            raise SerializationError(f"task {entry.get('id')!r}: unknown config keys "
                                     f"{sorted(unknown)}")
        return cls(id=entry["id"], defaults=entry.get("defaults") or {},
                   metadata=entry.get("metadata"), **config)

    # -- behaviour ---------------------------------------------------------------

    async def run(self, input: Any, ctx: TaskContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")

    async def run_reactive(self, input: Any, ctx: TaskContext) -> Any:
        """A cheap preview with no side effects; None means "no preview"."""
        return None

    async def run_many(self, inputs: list[Any], ctx: TaskContext) -> list[Any]:
        """The outputs of several validated inputs, in order (when ``runs_many``): for a
        task whose every run pays a fixed cost that runs can share. One failing input
        fails them all, as in an expansion run item by item."""
        return [await self.run(input, ctx) for input in inputs]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"
