"""taskloom.ai.extractive: the summary and answer plans both runtimes use, on known vectors."""

from __future__ import annotations

import math
import random

import pytest

from taskloom.ai.extractive import AnswerSearch, Summary
from taskloom.errors import ModelInputError

TEXT = "Cats purr. Dogs bark. Taxes rise. Kittens purr too."


def unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


def test_a_summary_keeps_the_most_central_sentences_in_their_order():
    plan = Summary.of(TEXT, 2)
    assert plan.texts == ["Cats purr.", "Dogs bark.", "Taxes rise.", "Kittens purr too."]
    # Three sentences about pets point one way, taxes another: the pets are central,
    # and of them the two nearest the others win.
    vectors = [unit(1, 0.1, 0), unit(0.7, 0.7, 0), unit(0, 0.1, 1), unit(1, 0.2, 0)]
    assert plan.pick(vectors) == "Cats purr. Kittens purr too."


def test_centrality_is_the_mean_similarity_to_every_sentence():
    rng = random.Random(3)
    sentences = " ".join(f"Sentence {i}." for i in range(12))
    vectors = [unit(*(rng.gauss(0, 1) for _ in range(8))) for _ in range(12)]
    pairwise = [sum(sum(a * b for a, b in zip(v, w, strict=True)) for w in vectors) / 12
                for v in vectors]
    top = sorted(sorted(range(12), key=lambda i: -pairwise[i])[:4])
    assert Summary.of(sentences, 4).pick(vectors) == " ".join(f"Sentence {i}." for i in top)


def test_a_text_no_longer_than_the_summary_needs_no_vectors():
    plan = Summary.of("One.  Two.", 3)
    assert plan.texts == []
    assert plan.pick([]) == "One. Two."


def test_the_answer_is_the_sentence_nearest_the_question():
    plan = AnswerSearch.of("Which animal barks?", TEXT)
    assert plan.texts == ["Which animal barks?", "Cats purr.", "Dogs bark.", "Taxes rise.",
                          "Kittens purr too."]
    found = plan.pick([unit(0, 1), unit(1, 0.2), unit(0.3, 1), unit(1, -1), unit(1, 0)])
    assert found.text == "Dogs bark."
    assert TEXT[found.start:found.end] == "Dogs bark."
    assert found.score == pytest.approx(1 / math.sqrt(1.09))


@pytest.mark.parametrize("make", [
    lambda: Summary.of("   \n ", 2),
    lambda: Summary.of(TEXT, 0),
    lambda: Summary.of(TEXT, True),
    lambda: AnswerSearch.of("", TEXT),
    lambda: AnswerSearch.of("Why?", "  "),
])
def test_empty_text_or_a_bad_count_is_refused(make):
    with pytest.raises(ModelInputError):
        make()
