"""Sentence splitting for the extractive helpers (summaries, answers). Pure Python.

Good enough for prose in languages that end sentences with . ! ? or …: it
keeps closing quotes and brackets with their sentence, treats blank lines as
sentence ends, and does not split after common abbreviations or initials, nor
before a lowercase letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence end: terminal punctuation, any closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'\u201d\u2019)\]]*(?=\s)|\n\s*\n")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "cf",
        "fig",
        "no",
        "vol",
        "approx",
        "dept",
        "inc",
        "ltd",
        "co",
    ]
)


@dataclass(frozen=True)
class Sentence:
    """One sentence and where it sits in the text (``text[start:end]``, stripped)."""

    text: str
    start: int
    end: int


def _ends_with_abbreviation(chunk: str) -> bool:
    word = chunk.rstrip(".").rsplit(None, 1)[-1].lower() if chunk.strip(" .") else ""
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[Sentence]:
    """The non-empty sentences of ``text`` in order, with their offsets."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if not match.group().startswith("\n"):
            following = text[end:].lstrip()[:1]
            if following.islower():  # “Really?” she asked.
                continue
            if match.group().startswith(".") and _ends_with_abbreviation(text[start:end]):
                continue
        _append(sentences, text, start, end)
        start = end
    _append(sentences, text, start, len(text))
    return sentences


def _append(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if stripped:
        offset = start + (len(chunk) - len(chunk.lstrip()))
        sentences.append(Sentence(" ".join(stripped.split()), offset, offset + len(stripped)))
