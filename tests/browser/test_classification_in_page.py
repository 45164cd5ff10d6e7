"""TextClassification in the page: zero-shot with MiniLM through Transformers.js, as CPython.

The run function is shared (``taskloom.ai.local``); only the embeddings come
from another engine, and they agree within 1e-4 (test_models.py), so the
labels must be the same and the scores close. The shared page's guard fails
any test whose page asked anything of another host.
"""

from __future__ import annotations

import pytest

from prerequisites import need_module

from .site import ROOT
from .test_models import completed, graph, run_graph

pytestmark = pytest.mark.browser

for _module in ("numpy", "onnxruntime", "tokenizers"):
    need_module(_module, f"{_module} is missing: pip install 'taskloom[onnx]' "
                         "(the CPython reference for the browser's numbers)")

from taskloom.ai import onnx_local  # noqa: E402

MINILM = "onnx:all-MiniLM-L6-v2:q8"
MINILM_DIR = ROOT / "dist" / "models" / "all-MiniLM-L6-v2"
LABELS = ["billing", "shipping", "login problem", "bug report"]
# Support tickets written for this test.
TICKETS = [
    "I paid for the yearly plan but the receipt shows the monthly price.",
    "The delivery van never came and the parcel is marked as delivered.",
    "After the update the app closes as soon as I open the settings page.",
    "My two-factor code is rejected every time I try to log in.",
]


def test_the_page_labels_support_tickets_as_cpython_does(app):
    outputs = completed(run_graph(app, graph(
        f"wf.text_classification(id='c', model={MINILM!r}, text={TICKETS!r}, "
        f"labels={LABELS!r})")))
    page = outputs["c"]
    assert page["label"] == ["billing", "shipping", "bug report", "login problem"]
    for text, scores in zip(TICKETS, page["scores"], strict=True):
        text_vector, *label_vectors = onnx_local.embed([text, *LABELS], MINILM_DIR)
        for label, vector in zip(LABELS, label_vectors, strict=True):
            want = sum(a * b for a, b in zip(text_vector, vector, strict=True))
            assert scores[label] == pytest.approx(want, abs=1e-3)
