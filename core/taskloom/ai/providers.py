"""The provider registry: (task type, provider) → the function that runs the model call.

A provider is what the first part of a model id names (``onnx`` in
``onnx:all-MiniLM-L6-v2:q8``). Each runtime registers the run functions it
can execute under the same keys, so the tasks and the graphs do not change:
local models through ``local.register(adapter)`` (one adapter per runtime:
``onnx_cpython`` under CPython, Transformers.js in the page), cloud models
through ``cloud.register``. Any other provider is one registration:

    @providers.register("TextEmbedding", "toy")
    async def embed(call: ModelCall) -> dict:
        return {"vector": ...}          # call.input.text, call.record, call.progress

A run function gets a :class:`ModelCall` and returns the task's output as a
dict. It runs on a worker of the provider's job queue (see ``task.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import ModelTaskError
from ..storage.models import ModelRecord
from ..task import AbortSignal


@dataclass
class ModelCall:
    """One model call, as a run function sees it."""

    task_type: str
    record: ModelRecord
    #: The task's input, validated: an instance of its ``Input`` model (``model``
    #: included), so options are checked once and read as attributes.
    input: BaseModel
    #: Where the models live (downloads go here; relative locations resolve here).
    models_dir: Path
    #: The model's folder when its files are local, else None.
    path: Path | None = None
    signal: AbortSignal = field(default_factory=AbortSignal)
    progress: Callable[[float, str | None], None] = lambda fraction, message=None: None
    #: Send the next piece of the streamed text (the task's streaming output port):
    #: a generation calls it per token, a cloud call per chunk. A no-op elsewhere.
    stream: Callable[[str], None] = lambda delta: None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("taskloom.ai"))


RunFunction = Callable[[ModelCall], Awaitable[dict[str, Any]]]
#: The calls of one items job (one record), answered together; ``progress(fraction)``
#: reports the share done.
ManyRunFunction = Callable[[list[ModelCall], Callable[[float], None]],
                           Awaitable[list[dict[str, Any]]]]


class ProviderRegistry:
    def __init__(self) -> None:
        self._functions: dict[tuple[str, str], RunFunction] = {}
        self._many: dict[tuple[str, str], ManyRunFunction] = {}

    def register(self, task_type: str, provider: str,
                 function: RunFunction | None = None) -> Any:
        """Register ``function`` for (task type, provider); usable as a decorator.

        A later registration replaces an earlier one (a runtime may override).
        """
        def decorator(fn: RunFunction) -> RunFunction:
            self._functions[(task_type, provider)] = fn
            self._many.pop((task_type, provider), None)
            return fn

        return decorator(function) if function is not None else decorator

    def register_many(self, task_type: str, provider: str, function: ManyRunFunction) -> None:
        """Register how (task type, provider) answers many calls at once (an items job):
        optional; without it the calls run one by one, concurrently. Registering a
        single-call function (``register``) drops it: the two must agree."""
        self._many[(task_type, provider)] = function

    def get_many(self, task_type: str, provider: str) -> ManyRunFunction | None:
        return self._many.get((task_type, provider))

    def unregister(self, task_type: str, provider: str) -> None:
        self._functions.pop((task_type, provider), None)
        self._many.pop((task_type, provider), None)

    def get(self, task_type: str, provider: str) -> RunFunction:
        try:
            return self._functions[(task_type, provider)]
        except KeyError:
            here = ", ".join(sorted(p for t, p in self._functions if t == task_type)) or "none"
            raise ModelTaskError(
                f"provider {provider!r} cannot run {task_type} in this runtime (providers that "
                f"can: {here}); install the provider's extra or pick another model"
            ) from None

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._functions

    def providers_for(self, task_type: str) -> list[str]:
        return sorted(p for t, p in self._functions if t == task_type)


providers = ProviderRegistry()
