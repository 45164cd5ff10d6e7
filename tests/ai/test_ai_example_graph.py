"""The design's example, offline: load a document → split into paragraphs → rewrite with
two prompts → embed → compare."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from taskloom.ai import onnx_local
from taskloom.ai.local import rewrite_prompt
from taskloom.queue import JobStatus, queues
from taskloom.task import Task, TaskContext
from taskloom.workflow import Workflow

DOCUMENT = """Alice sat by the river with her sister, who was reading a book.

The book had no pictures in it, and Alice grew tired of it.

Then a White Rabbit with pink eyes ran close by her.
"""
PROMPTS = ["Tell it simply:", "Tell it as a story:"]


class LoadDocument(Task, register=False):
    """Reads a text file."""

    class Input(BaseModel):
        path: str

    class Output(BaseModel):
        text: str

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        return {"text": Path(input.path).read_text(encoding="utf-8")}


class SplitParagraphs(Task, register=False):
    """Splits a text at blank lines."""

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: list[str]

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        return {"text": [p.strip() for p in input.text.split("\n\n") if p.strip()]}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(self, address, *args):
        raise AssertionError(f"the example tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


async def test_load_split_rewrite_embed_compare(local_models, glassllm_dir, minilm_dir,
                                                tmp_path, no_network):
    document = tmp_path / "alice.txt"
    document.write_text(DOCUMENT, encoding="utf-8")
    wf = Workflow()
    wf.add_task(LoadDocument, id="load", path=str(document))
    wf.add_task(SplitParagraphs, id="split")
    wf.text_rewriter(id="rewrite", model="onnx:glassllm:q8", prompt=PROMPTS, max_new_tokens=12)
    wf.text_embedding(id="embed", model="onnx:all-MiniLM-L6-v2:q8")
    wf.similarity(id="compare")
    flows = {(d.source_task_id, d.source_port, d.target_task_id, d.target_port)
             for d in wf.graph.dataflows}
    assert flows == {("load", "text", "split", "text"), ("split", "text", "rewrite", "text"),
                     ("rewrite", "text", "embed", "text"), ("embed", "vector", "compare",
                                                             "vectors")}

    result = await wf.run()

    paragraphs = result["split"]["text"]
    assert len(paragraphs) == 3
    rewrites = result["rewrite"]["text"]
    # Every prompt with every paragraph, as the provider alone would write them.
    assert rewrites == [onnx_local.generate(rewrite_prompt(p, t), glassllm_dir, 12)
                        for p in PROMPTS for t in paragraphs]
    vectors = result["embed"]["vector"]
    assert len(vectors) == 6 and all(len(v) == 384 for v in vectors)
    expected = onnx_local.embed(rewrites, minilm_dir)
    assert max(abs(a - b) for v, w in zip(vectors, expected, strict=True)
               for a, b in zip(v, w, strict=True)) < 1e-5
    matrix = result["compare"]["matrix"]
    assert len(matrix) == 6 and all(len(row) == 6 for row in matrix)
    for i in range(6):
        assert matrix[i][i] == pytest.approx(1.0)
        for j in range(6):
            assert matrix[i][j] == pytest.approx(matrix[j][i])
    jobs = await queues.get("ai:onnx").list(limit=100)
    # A job per streamed rewrite; the six embeddings travel in one items job, equal
    # rewrites asked once.
    assert sorted(j.task_type for j in jobs) == ["TextEmbedding"] + ["TextRewriter"] * 6
    (embedding_job,) = (j for j in jobs if j.task_type == "TextEmbedding")
    assert [item["text"] for item in embedding_job.input["items"]] == \
        list(dict.fromkeys(rewrites))
    assert all(j.status is JobStatus.COMPLETED for j in jobs)
