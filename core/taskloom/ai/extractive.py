"""Extractive summaries and answers over sentence vectors, for every runtime. Pure Python.

No registry package ships an offline summariser or question-answering
model, so both run on an embedding model:

- a summary is the ``n`` most central sentences, in their original order
  (central: the highest mean cosine similarity to all the text's sentences);
- an answer is the sentence most similar to the question, with that cosine
  as its score — the sentence that talks about the question, not a span
  that answers it.

Each is a plan that says which texts it needs embedded (``texts``) and then
picks from their vectors (``pick``), so that the same code serves a
blocking embedder (``onnx_local``) and an async one (the run functions in
``local``). Vectors are L2-normalised, so a dot product is their cosine.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ModelInputError
from .text import Sentence, split_sentences

Vectors = Sequence[Sequence[float]]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(map(operator.mul, a, b))


def _sentences(text: str, what: str) -> list[Sentence]:
    sentences = split_sentences(text)
    if not sentences:
        raise ModelInputError(f"{what} is empty: give some text")
    return sentences


@dataclass(frozen=True)
class Summary:
    """The plan of an extractive summary of ``n`` sentences."""

    sentences: list[Sentence]
    n: int

    @classmethod
    def of(cls, text: str, n: int) -> Summary:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ModelInputError(f"n must be a positive int, not {n!r}")
        return cls(_sentences(text, "the text"), n)

    @property
    def texts(self) -> list[str]:
        """What to embed: nothing when the text is no longer than the summary."""
        return [s.text for s in self.sentences] if len(self.sentences) > self.n else []

    def pick(self, vectors: Vectors) -> str:
        if len(self.sentences) <= self.n:
            return " ".join(s.text for s in self.sentences)
        # Mean similarity to all sentences is similarity to their mean vector:
        # linear in the number of sentences, not quadratic.
        count = len(vectors)
        centroid = [math.fsum(column) / count for column in zip(*vectors, strict=True)]
        centrality = [_dot(vector, centroid) for vector in vectors]
        ranked = sorted(range(len(self.sentences)), key=lambda i: -centrality[i])
        return " ".join(self.sentences[i].text for i in sorted(ranked[: self.n]))


@dataclass(frozen=True)
class Answer:
    """The sentence of the context that best matches a question."""

    text: str
    score: float  # cosine similarity of question and sentence, in [-1, 1]
    start: int  # context[start:end] is the sentence as written
    end: int


@dataclass(frozen=True)
class AnswerSearch:
    """The plan of an extractive answer: the question first, then the context's sentences."""

    question: str
    sentences: list[Sentence]

    @classmethod
    def of(cls, question: str, context: str) -> AnswerSearch:
        if not question.strip():
            raise ModelInputError("the question is empty: give some text")
        return cls(question, _sentences(context, "the context"))

    @property
    def texts(self) -> list[str]:
        return [self.question, *(s.text for s in self.sentences)]

    def pick(self, vectors: Vectors) -> Answer:
        question, *candidates = vectors
        scores = [_dot(vector, question) for vector in candidates]
        best = max(range(len(scores)), key=scores.__getitem__)
        sentence = self.sentences[best]
        return Answer(sentence.text, scores[best], sentence.start, sentence.end)
