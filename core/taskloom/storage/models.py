"""Model records: which models exist, what they serve, where their files are.

A record's id is ``provider:name:variant`` — ``onnx:all-MiniLM-L6-v2:q8`` is
the int8 MiniLM run by the local ONNX provider. The name may hold slashes
and colons are split at the first and the last, so a Hugging Face id fits:
``onnx:Xenova/all-MiniLM-L6-v2:q8``.

``ModelRepository`` keeps records in the ``models`` collection of any
KeyValueStore backend (memory, file, SQLite, Postgres, IndexedDB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptRecordError, ModelInputError, UnknownModelError
from .protocol import KeyValueStore

COLLECTION = "models"


def split_model_id(model_id: str) -> tuple[str, str, str]:
    """``"onnx:org/name:q8"`` → ``("onnx", "org/name", "q8")``; ModelInputError if malformed."""
    if not isinstance(model_id, str) or model_id.count(":") < 2:
        raise ModelInputError(
            f"bad model id {model_id!r}: write provider:name:variant, "
            "e.g. 'onnx:all-MiniLM-L6-v2:q8'"
        )
    provider, rest = model_id.split(":", 1)
    name, variant = rest.rsplit(":", 1)
    if not provider or not name or not variant:
        raise ModelInputError(
            f"bad model id {model_id!r}: provider, name and variant must all be non-empty"
        )
    return provider, name, variant


@dataclass(frozen=True)
class ModelRecord:
    """One model a provider can run.

    ``location`` is where its files are: a folder name relative to the models
    directory, an absolute path, or (before a download) a URL. ``dtype`` picks
    the weights inside the folder (``q8``: onnx/model_quantized.onnx, ``fp32``:
    onnx/model.onnx). ``tasks`` are the task types it serves.
    """

    id: str
    tasks: tuple[str, ...]
    location: str = ""
    dtype: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        split_model_id(self.id)
        object.__setattr__(self, "tasks", tuple(self.tasks))

    @property
    def provider(self) -> str:
        return split_model_id(self.id)[0]

    @property
    def name(self) -> str:
        return split_model_id(self.id)[1]

    @property
    def variant(self) -> str:
        return split_model_id(self.id)[2]

    def serves(self, task_type: str) -> bool:
        return task_type in self.tasks

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "tasks": list(self.tasks),
            "location": self.location,
            "dtype": self.dtype,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Any) -> ModelRecord:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise CorruptRecordError(f"not a model record: {data!r}")
        tasks = data.get("tasks") or []
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise CorruptRecordError(f"model record {data['id']!r}: tasks must be a list of str",
                                     key=data["id"])
        return cls(
            id=data["id"],
            tasks=tuple(tasks),
            location=str(data.get("location") or ""),
            dtype=str(data.get("dtype") or ""),
            metadata=dict(data.get("metadata") or {}),
        )


class ModelRepository:
    """Save, get, list and delete model records on a KeyValueStore."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    async def save(self, record: ModelRecord) -> None:
        await self._store.put(COLLECTION, record.id, record.to_json())

    async def find(self, model_id: str) -> ModelRecord | None:
        data = await self._store.get(COLLECTION, model_id)
        if data is None:
            return None
        try:
            return ModelRecord.from_json(data)
        except (CorruptRecordError, ModelInputError) as exc:
            raise CorruptRecordError(
                f"stored model record {model_id!r} cannot be read ({exc}); delete it and "
                "register the model again",
                key=model_id,
            ) from None

    async def get(self, model_id: str) -> ModelRecord:
        record = await self.find(model_id)
        if record is None:
            raise UnknownModelError(f"no model record {model_id!r} is stored", model_id)
        return record

    async def list(self, *, task: str | None = None, provider: str | None = None,
                   ) -> list[ModelRecord]:
        """Every stored record (sorted by id), optionally only those serving ``task``."""
        prefix = f"{provider}:" if provider else ""
        records = [await self.get(key) for key in await self._store.keys(COLLECTION, prefix)]
        return [r for r in records if task is None or r.serves(task)]

    async def delete(self, model_id: str) -> bool:
        return await self._store.delete(COLLECTION, model_id)
