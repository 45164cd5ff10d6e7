"""TextClassification, zero-shot by embedding similarity, with the local MiniLM under CPython."""

from __future__ import annotations

import socket

import pytest

from taskloom.ai import TextClassification, onnx_local
from taskloom.errors import ModelInputError, ModelTaskError, TaskInputError
from taskloom.graph import TaskGraph
from taskloom.runner import TaskGraphRunner
from taskloom.workflow import Workflow

MINILM = "onnx:all-MiniLM-L6-v2:q8"
LABELS = ["billing", "shipping", "login problem", "bug report"]

# Support tickets written for this test.
TICKETS = {
    "I was charged twice for my March subscription, please refund one of the payments.":
        "billing",
    "Why does my invoice show a higher price than the plan I picked?": "billing",
    "My parcel has been stuck at the depot for a week and the tracking never updates.":
        "shipping",
    "The courier left the box at the wrong address.": "shipping",
    "The reset password email never arrives, so I cannot sign in to my account.":
        "login problem",
    "The export button crashes the app whenever the report has more than ten rows.":
        "bug report",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(self, address, *args):
        raise AssertionError(f"classification tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


async def classify(inputs):
    graph = TaskGraph()
    graph.add_task(TextClassification("c", {"model": MINILM, **inputs}))
    return (await TaskGraphRunner(graph).run())["c"]


async def test_support_tickets_get_their_label(local_models):
    out = (await Workflow().text_classification(model=MINILM, text=list(TICKETS),
                                                labels=LABELS).run()).output
    assert out["label"] == list(TICKETS.values())
    for scores, label in zip(out["scores"], out["label"], strict=True):
        assert list(scores) == LABELS  # every label, in the order given
        assert max(scores, key=scores.get) == label


async def test_scores_are_the_cosine_similarity_to_each_label(local_models, minilm_dir):
    text = "The reset password email never arrives."
    out = await classify({"text": text, "labels": LABELS})
    text_vector, *label_vectors = onnx_local.embed([text, *LABELS], minilm_dir)
    for label, vector in zip(LABELS, label_vectors, strict=True):
        want = sum(a * b for a, b in zip(text_vector, vector, strict=True))
        assert out["scores"][label] == pytest.approx(want, abs=1e-5)


async def test_bad_labels_are_input_errors(local_models):
    with pytest.raises(TaskInputError, match="labels"):
        TextClassification("c", {"model": MINILM, "text": "hi", "labels": ["billing"]})
    with pytest.raises(ModelInputError, match="repeats a label"):
        await classify({"text": "My card was charged", "labels": ["billing", "billing"]})
    with pytest.raises(ModelInputError, match="'labels' is empty"):
        await classify({"text": "My card was charged", "labels": ["billing", " "]})


async def test_a_generation_model_does_not_classify(local_models):
    with pytest.raises(ModelTaskError, match="does not serve TextClassification") as caught:
        await Workflow().text_classification(model="onnx:glassllm:q8", text="hi",
                                             labels=LABELS).run()
    assert MINILM in str(caught.value)
