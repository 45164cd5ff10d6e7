"""The mediapipe provider in the page: @mediapipe/tasks-text's TextEmbedder in the engine's worker.

The page reads the site's models/minilm-mediapipe/, the very .tflite CPython's
``mediapipe`` package reads (tests/ai/test_mediapipe.py), so the vectors must agree;
and the same sentences embedded by the onnx provider in the same page must rank a set
of paraphrases alike. One page load for the module; its guard fails any test whose
page asked anything of another host.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prerequisites import need_module

from .test_models import completed, graph, run_graph

pytestmark = pytest.mark.browser

need_module("mediapipe", "mediapipe is missing: pip install 'taskloom[mediapipe]' "
                         "(the CPython reference for the browser's vectors)")

from taskloom.ai.mediapipe_cpython import MediaPipeCPython  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE = "mediapipe:all-MiniLM-L6-v2:int8"
MINILM = "onnx:all-MiniLM-L6-v2:q8"
MODEL_FILE = ROOT / "build" / "models" / "minilm-mediapipe" / "minilm-l6-v2-embedder.tflite"
PARAPHRASES = json.loads((ROOT / "tests" / "data" / "paraphrases.json").read_text("utf-8"))
TEXTS = PARAPHRASES["queries"] + PARAPHRASES["candidates"]
# The same file through two builds of MediaPipe (tasks-text 1.0.1's wasm, the mediapipe
# 1.2.2 wheel). Measured on these 16 texts: 7 agree to 4e-8; in the others a rounding
# of the int8 activation quantisation differs somewhere, which moves some components by
# up to 7.3e-3 (cosine >= 0.99915). Deterministic: the same texts give the same numbers.
MAX_DIFFERENCE = 0.015
MIN_COSINE = 0.998


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks_a, ranks_b = a.argsort().argsort(), b.argsort().argsort()
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


@pytest.fixture(scope="module")
def in_page(_shared_app):
    """Both providers' vectors of the paraphrase set, from one run in the page."""
    page, _ = _shared_app
    outputs = completed(run_graph(page, graph(
        f"wf.text_embedding(id='mp', model={MEDIAPIPE!r}, text={TEXTS!r})",
        "wf.after()",
        f"wf.text_embedding(id='onnx', model={MINILM!r}, text={TEXTS!r})",
    )))
    return {"mp": np.array(outputs["mp"]["vector"]), "onnx": np.array(outputs["onnx"]["vector"])}


def test_page_vectors_agree_with_cpython(app, in_page):
    cpython = np.array([vector for vector, _ in
                        MediaPipeCPython()._embed_sync(MODEL_FILE, TEXTS)])
    assert in_page["mp"].shape == (len(TEXTS), 384)
    assert np.abs(in_page["mp"] - cpython).max() <= MAX_DIFFERENCE
    assert (in_page["mp"] * cpython).sum(axis=1).min() >= MIN_COSINE
    # Most texts go through the very same arithmetic in both.
    assert (np.abs(in_page["mp"] - cpython).max(axis=1) < 1e-6).sum() >= len(TEXTS) // 4


def test_mediapipe_and_onnx_rank_paraphrases_alike_in_the_page(app, in_page):
    n = len(PARAPHRASES["queries"])
    mp = in_page["mp"][:n] @ in_page["mp"][n:].T
    onnx = in_page["onnx"][:n] @ in_page["onnx"][n:].T
    assert list(mp.argmax(axis=1)) == list(range(n))
    assert list(onnx.argmax(axis=1)) == list(range(n))
    assert spearman(mp.ravel(), onnx.ravel()) >= 0.97


def test_a_too_long_text_is_the_context_error_cpython_gives(app):
    report = run_graph(app, graph(
        f"wf.text_embedding(id='long', model={MEDIAPIPE!r}, text='word ' * 600)"))
    assert not report["ok"]
    assert "602 tokens long" in (report.get("error") or "") + (report.get("traceback") or "")


def test_an_unknown_mediapipe_model_gives_the_clear_error(app):
    report = run_graph(app, graph(
        "wf.text_embedding(id='e', model='mediapipe:no-such-model:int8', text='hello')"))
    assert not report["ok"]
    message = (report.get("error") or "") + (report.get("traceback") or "")
    assert "unknown model 'mediapipe:no-such-model:int8'" in message
    assert MEDIAPIPE in message


def test_the_gallery_example_compares_both_runtimes_similarities(app):
    code = app.evaluate("""async () =>
        (await import('./examples.js')).EXAMPLES['MediaPipe vs ONNX embeddings']""")
    outputs = completed(run_graph(app, code))
    mp = np.array(outputs["mediapipe_similarity"]["matrix"])
    onnx = np.array(outputs["onnx_similarity"]["matrix"])
    # The two paraphrases are the closest pair for both, and the matrices nearly agree.
    for matrix in (mp, onnx):
        assert matrix[0, 1] > max(matrix[0, 2], matrix[1, 2]) + 0.3
    assert np.abs(mp - onnx).max() < 0.05


def test_the_models_panel_lists_the_mediapipe_model_with_its_files(app, built_site):
    reply = app.evaluate("window.taskloom.engine.request('list_models')")
    models = {m["id"]: m for m in (json.loads(reply) if isinstance(reply, str) else reply)
              ["models"]}
    entry = models[MEDIAPIPE]
    folder = built_site / "models" / "minilm-mediapipe"
    assert entry["local"] is True and "TextEmbedding" in entry["task"]
    assert entry["size_bytes"] == sum(p.stat().st_size for p in folder.rglob("*")
                                      if p.is_file())
