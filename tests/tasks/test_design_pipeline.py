"""The design's flowchart, offline: examples/design_pipeline.json as the README runs it.

document (examples/) → paragraphs → rewrite with two prompts → embed → SaveToDatabase →
VectorSearch for a question returns the nearest rewritten paragraphs.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom import TaskGraph, TaskGraphRunner, from_code, to_code

if sys.platform == "emscripten":
    pytest.skip("the in-Pyodide suite copies tests/ only, not examples/ or the models",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "examples" / "design_pipeline.json"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(self, address, *args):
        raise AssertionError(f"the example tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def defaults(doc, task_id):
    return next(t["defaults"] for t in doc["tasks"] if t["id"] == task_id)


def expected_hits(doc, glassllm_dir, minilm_dir):
    """What the graph must find, computed from the providers directly."""
    from taskloom.ai import onnx_local
    from taskloom.ai.local import rewrite_prompt
    from taskloom.tasks.documents import paragraph_spans

    text = (ROOT / defaults(doc, "load")["path"]).read_text(encoding="utf-8")
    paragraphs = [text[a:b] for a, b in paragraph_spans(text)]
    rewrite = defaults(doc, "rewrite")
    dtype = rewrite["model"].rsplit(":", 1)[1]  # onnx:glassllm:fp32
    rewrites = [onnx_local.generate(rewrite_prompt(p, t), glassllm_dir,
                                    rewrite["max_new_tokens"], dtype=dtype)
                for p in rewrite["prompt"] for t in paragraphs]
    unique = list(dict.fromkeys(rewrites))
    vectors = onnx_local.embed(unique, minilm_dir)
    [question] = onnx_local.embed([defaults(doc, "question")["text"]], minilm_dir)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
            sum(x * x for x in a) * sum(y * y for y in b))

    ranked = sorted(zip(unique, vectors, strict=True), key=lambda tv: -cosine(tv[1], question))
    k = defaults(doc, "search")["k"]
    return paragraphs, rewrites, [t for t, _ in ranked[:k]], \
        [cosine(v, question) for _, v in ranked[:k]]


async def test_the_design_pipeline_runs_offline_and_finds_the_nearest_paragraphs(
        local_models, model_dirs, no_network):
    doc = json.loads(GRAPH.read_text(encoding="utf-8"))
    assert [t["type"] for t in doc["tasks"]] == [
        "LoadDocument", "DocumentSplitter", "TextRewriter", "TextEmbedding",
        "SaveToDatabase", "TextEmbedding", "VectorSearch"]
    result = await TaskGraphRunner(TaskGraph.from_json(doc),
                                   services={"file_root": str(ROOT)}).run()

    paragraphs, rewrites, texts, scores = expected_hits(
        doc, model_dirs["glassllm"], model_dirs["all-MiniLM-L6-v2"])
    assert result["split"]["text"] == paragraphs and len(paragraphs) == 5
    assert result["rewrite"]["text"] == rewrites and len(rewrites) == 10
    assert result["save"]["count"] == 10
    assert result["search"]["text"] == texts
    assert result["search"]["score"] == pytest.approx(scores, abs=1e-5)


def test_the_example_round_trips_through_workflow_code():
    doc = json.loads(GRAPH.read_text(encoding="utf-8"))
    code = to_code(TaskGraph.from_json(doc))
    assert "wf.save_to_database(" in code and ".vector_search(" in code
    back = from_code(code).to_json()
    assert back["tasks"] == doc["tasks"]
    key = lambda d: tuple(d.values())  # noqa: E731
    assert sorted(back["dataflows"], key=key) == sorted(doc["dataflows"], key=key)


def test_taskloom_run_runs_the_example_from_the_repository(model_dirs, tmp_path):
    out = tmp_path / "out.json"
    cli = Path(sys.executable).with_name("taskloom")
    env = {**os.environ, "TASKLOOM_MODELS_DIR": str(model_dirs["glassllm"].parent)}
    env.pop("TASKLOOM_FILE_ROOT", None)
    done = subprocess.run([str(cli), "run", "examples/design_pipeline.json", "--no-store",
                           "--quiet", "-o", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(out.read_text(encoding="utf-8"))["outputs"]
    doc = json.loads(GRAPH.read_text(encoding="utf-8"))
    _, _, texts, _ = expected_hits(doc, model_dirs["glassllm"], model_dirs["all-MiniLM-L6-v2"])
    assert outputs["search"]["text"] == texts
