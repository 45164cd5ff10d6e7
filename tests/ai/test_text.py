"""taskloom.ai.text.split_sentences."""

from __future__ import annotations

import pytest

from taskloom.ai.text import split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Dr. Smith left. He was tired.", ["Dr. Smith left.", "He was tired."]),
        ("J. R. R. Tolkien wrote it. Fin.", ["J. R. R. Tolkien wrote it.", "Fin."]),
        ("“Really?” she asked. Yes.", ["“Really?” she asked.", "Yes."]),
        ("He said “Stop.” Then left.", ["He said “Stop.”", "Then left."]),
        ("Title\n\nBody text\nwraps here.", ["Title", "Body text wraps here."]),
        ("Pi is 3.14 today. Ok.", ["Pi is 3.14 today.", "Ok."]),
        ("Wait… What?", ["Wait…", "What?"]),
        ("", []),
        ("   \n  ", []),
    ],
)
def test_split_sentences(text, sentences):
    assert [s.text for s in split_sentences(text)] == sentences


def test_offsets_point_at_the_sentence_as_written():
    text = "  First one.   Second\none. "
    found = split_sentences(text)
    assert [text[s.start : s.end] for s in found] == ["First one.", "Second\none."]
    assert [s.text for s in found] == ["First one.", "Second one."]
