"""Extractive summarize() and answer() on the real all-MiniLM-L6-v2."""

from __future__ import annotations

import pytest

from taskloom.ai import onnx_local
from taskloom.errors import ModelInputError

ARTICLE = (
    "Cats are small, furry animals that many families keep as pets. "
    "Dogs are loyal pets that love to play with the people they live with. "
    "The stock market closed slightly higher on Tuesday. "
    "Many households keep both cats and dogs as pets at home. "
    "Bananas turn yellow as they ripen."
)


def test_summary_keeps_the_most_central_sentences_in_order(minilm_dir):
    summary = onnx_local.summarize(ARTICLE, minilm_dir, n=2)
    assert summary == (
        "Cats are small, furry animals that many families keep as pets. "
        "Many households keep both cats and dogs as pets at home."
    )


def test_summary_of_a_short_text_is_the_text(minilm_dir):
    assert onnx_local.summarize("One sentence only.", minilm_dir, n=3) == "One sentence only."


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What colour do bananas become?", "Bananas turn yellow as they ripen."),
        ("How did the stock market do?", "The stock market closed slightly higher on Tuesday."),
        (
            "Which pets are loyal?",
            "Dogs are loyal pets that love to play with the people they live with.",
        ),
    ],
)
def test_answer_is_the_best_matching_sentence(minilm_dir, question, expected):
    found = onnx_local.answer(question, ARTICLE, minilm_dir)
    assert found.text == expected
    assert ARTICLE[found.start : found.end] == expected
    assert 0.3 < found.score <= 1.0


def test_answer_scores_a_related_sentence_above_an_unrelated_one(minilm_dir):
    related = onnx_local.answer("Is the market up?", "The stock market rose today.", minilm_dir)
    unrelated = onnx_local.answer("Is the market up?", "Bananas are yellow.", minilm_dir)
    assert related.score > unrelated.score + 0.3


@pytest.mark.parametrize(
    "call",
    [
        lambda d: onnx_local.summarize("", d),
        lambda d: onnx_local.summarize(ARTICLE, d, n=0),
        lambda d: onnx_local.answer("", ARTICLE, d),
        lambda d: onnx_local.answer("Why?", "   ", d),
    ],
)
def test_empty_input_is_refused(minilm_dir, call):
    with pytest.raises(ModelInputError):
        call(minilm_dir)
