"""AI tasks, model records and providers.

- ``tasks``: DownloadModel, TextEmbedding, TextGeneration, TextRewriter,
  TextSummary, TextQuestionAnswer, TextTranslation, TextLanguageDetection,
  TextClassification, Similarity. ``import
  taskloom`` does not load this package: the registry knows these type names
  and imports ``tasks`` (and so this package) when a graph, a ``Workflow`` or
  ``taskloom.TextEmbedding`` first needs one. A new task type here must join
  the lazy table in ``taskloom/__init__.py`` (tests/test_registry.py checks).
- ``task``: ``AiTask``, the base — resolves the model, runs the call as a job on
  the provider's queue (``ai:<provider>``), reports progress, forwards aborts.
- ``catalog``: ``ModelCatalog`` (built-in records, models directory);
  ``taskloom.storage.models`` has ``ModelRecord`` and ``ModelRepository``.
- ``providers``: ``ProviderRegistry`` — (task type, provider) → run function.
- ``workers``: in-process workers started on demand for the AI queues.
- ``onnx_cpython`` (+ ``download``): the local ONNX provider's run functions
  under CPython, registered here unless running in Pyodide (whose
  Transformers.js provider registers under the same keys).
- ``bergamot_cpython`` (TextTranslation, ``taskloom[translate]``) and
  ``fasttext_cpython`` (TextLanguageDetection, ``taskloom[langid]``) and
  ``mediapipe_cpython`` (MediaPipe text embeddings, ``taskloom[mediapipe]``):
  adapters of the same kind, registered the same way.
- ``onnx_local``: the CPython ONNX functions (onnxruntime + tokenizers,
  imported lazily; ``pip install 'taskloom[onnx]'``).
- ``text``: sentence splitting for the extractive helpers (pure Python).
"""

from __future__ import annotations

import sys

from ..storage.models import ModelRecord, ModelRepository
from .catalog import BUILTIN_MODELS, ModelCatalog, catalog
from .providers import ModelCall, ProviderRegistry, providers
from .task import AiTask
from .tasks import (
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
from .workers import set_in_process_workers, stop_in_process_workers

if sys.platform != "emscripten":
    # Each imports its package only when a model call runs (the extras are optional).
    from . import bergamot_cpython, fasttext_cpython, mediapipe_cpython, onnx_cpython

    onnx_cpython.register(providers)
    bergamot_cpython.register(providers)
    fasttext_cpython.register(providers)
    mediapipe_cpython.register(providers)

# Cloud providers import their SDKs only when a call runs, so this is cheap
# everywhere; the page re-registers them with a key and a fetch transport.
from . import cloud

cloud.register(providers, catalog)

__all__ = [
    "BUILTIN_MODELS",
    "AiTask",
    "DownloadModel",
    "ModelCall",
    "ModelCatalog",
    "ModelRecord",
    "ModelRepository",
    "ProviderRegistry",
    "Similarity",
    "TextClassification",
    "TextEmbedding",
    "TextGeneration",
    "TextLanguageDetection",
    "TextQuestionAnswer",
    "TextRewriter",
    "TextSummary",
    "TextTranslation",
    "catalog",
    "providers",
    "set_in_process_workers",
    "stop_in_process_workers",
]
