"""The mediapipe provider under CPython: MediaPipe's TextEmbedder on the committed .tflite.

The file is all-MiniLM-L6-v2 converted by scripts/build-mediapipe-model; the onnx
provider runs the same model from an int8 ONNX export, and tests/ai/conftest.py's
NumpyBert is the fp32 reference written from the architecture. Any network
connection fails a test.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path

import pytest

from prerequisites import need_module

need_module("mediapipe", "mediapipe is missing: pip install 'taskloom[mediapipe]'")

import numpy as np  # noqa: E402

from taskloom.ai import ModelRecord, catalog, stop_in_process_workers  # noqa: E402
from taskloom.ai.onnx_local import ContextTruncatedWarning  # noqa: E402
from taskloom.errors import ContextLengthError, ModelNotFoundError, UnknownModelError  # noqa: E402
from taskloom.workflow import Workflow  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE = "mediapipe:all-MiniLM-L6-v2:int8"
MINILM = "onnx:all-MiniLM-L6-v2:q8"
MODEL_FILE = ROOT / "build" / "models" / "minilm-mediapipe" / "minilm-l6-v2-embedder.tflite"
PARAPHRASES = json.loads((ROOT / "tests" / "data" / "paraphrases.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
async def offline(monkeypatch, local_models):
    """Any network connection fails the test; the catalog reads the built models."""
    def refuse(self, address, *args):
        raise AssertionError(f"the mediapipe provider tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    await stop_in_process_workers()


async def embed(model: str, texts: list[str], **options) -> np.ndarray:
    out = (await Workflow().text_embedding(model=model, text=texts, **options).run()).output
    return np.array(out["vector"])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (no ties among these similarities)."""
    ranks_a, ranks_b = a.argsort().argsort(), b.argsort().argsort()
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def test_the_committed_model_is_the_one_the_readme_records():
    readme = (ROOT / "build" / "models" / "README.md").read_text("utf-8")
    recorded = re.search(r"minilm-l6-v2-embedder\.tflite.*?sha256\s+`([0-9a-f]{64})`", readme,
                         re.S)
    assert recorded, "build/models/README.md records no sha256 for the MediaPipe model"
    assert hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest() == recorded.group(1)
    assert MODEL_FILE.stat().st_size <= 25 * 1024 * 1024


async def test_vectors_are_normalised_and_match_the_fp32_reference(numpy_bert):
    texts = ["A lantern swung above the harbour gate.", "Two trains left the station at noon."]
    vectors = await embed(MEDIAPIPE, texts)
    assert vectors.shape == (2, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    for text, vector in zip(texts, vectors, strict=True):
        # int8 weights: ONNX's int8 export is at 0.9995, this one at ~0.998.
        assert float(vector @ numpy_bert.embed(text)) > 0.995


async def test_mediapipe_and_onnx_rank_paraphrases_alike():
    queries, candidates = PARAPHRASES["queries"], PARAPHRASES["candidates"]
    results = {}
    for model in (MEDIAPIPE, MINILM):
        vectors = await embed(model, queries + candidates)
        results[model] = vectors[: len(queries)] @ vectors[len(queries):].T
    mp, onnx = results[MEDIAPIPE], results[MINILM]
    # Each query's own paraphrase comes first, with either runtime's vectors.
    assert list(mp.argmax(axis=1)) == list(range(len(queries)))
    assert list(onnx.argmax(axis=1)) == list(range(len(queries)))
    for row_mp, row_onnx in zip(mp, onnx, strict=True):
        assert spearman(row_mp, row_onnx) >= 0.9
    assert spearman(mp.ravel(), onnx.ravel()) >= 0.97


async def test_a_text_longer_than_the_context_is_an_error_unless_truncate():
    long_text = "word " * 600  # 600 tokens + [CLS] and [SEP]
    with pytest.raises(ContextLengthError) as error:
        await embed(MEDIAPIPE, [long_text])
    assert (error.value.n_tokens, error.value.limit) == (602, 512)
    with pytest.warns(ContextTruncatedWarning, match="602 to 512"):
        cut = await embed(MEDIAPIPE, [long_text], truncate=True)
    # The model keeps [CLS], the first 510 words and [SEP]: the same as 510 words.
    assert cut[0] == pytest.approx((await embed(MEDIAPIPE, ["word " * 510]))[0], abs=1e-6)


async def test_zero_shot_classification_runs_on_the_mediapipe_vectors():
    out = (await Workflow().text_classification(
        model=MEDIAPIPE, text="My parcel never arrived and the tracking page is blank.",
        labels=["delivery problem", "billing question", "password reset"]).run()).output
    assert out["label"] == "delivery problem"


async def test_an_unknown_mediapipe_model_gives_the_clear_error():
    with pytest.raises(UnknownModelError) as error:
        await embed("mediapipe:no-such-model:int8", ["hello"])
    message = str(error.value)
    assert "mediapipe:no-such-model:int8" in message and MEDIAPIPE in message


async def test_a_record_whose_folder_has_no_tflite_file_says_so(tmp_path):
    record = catalog.add(ModelRecord("mediapipe:empty:int8", tasks=("TextEmbedding",),
                                     location=str(tmp_path)))
    try:
        with pytest.raises(ModelNotFoundError, match=r"no \.tflite file in"):
            await embed(record.id, ["hello"])
    finally:
        catalog.remove(record.id)

