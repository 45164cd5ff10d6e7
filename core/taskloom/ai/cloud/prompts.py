"""Prompt templates: rewriting, summarising, answering and translating are generation
with a system instruction. One set, shared by every cloud provider, so that the
same graph gives comparable answers whichever vendor runs it."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ModelInputError


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ModelInputError(f"{what} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ModelInputError(f"{what} is empty")
    return value


def rewrite(text: str, instruction: str) -> Prompt:
    return Prompt(
        system=("Rewrite the user's text as the instruction asks. Keep its meaning. "
                "Reply with the rewritten text only.\n"
                f"Instruction: {_text(instruction, 'the rewriting instruction').strip()}"),
        user=_text(text, "the text to rewrite"))


def summarize(text: str, sentences: int | None = None) -> Prompt:
    if sentences is not None and sentences < 1:
        raise ModelInputError("a summary needs at least 1 sentence")
    length = f" in at most {sentences} sentence{'s' if sentences != 1 else ''}" \
        if sentences else ""
    return Prompt(
        system=(f"Summarise the user's text{length}. Keep the facts it states; add none. "
                "Reply with the summary only."),
        user=_text(text, "the text to summarise"))


def answer(question: str, context: str) -> Prompt:
    return Prompt(
        system=("Answer the question from the context alone. If the context does not "
                "hold the answer, say that you do not know. Reply with the answer only."),
        user=(f"Context:\n{_text(context, 'the context')}\n\n"
              f"Question: {_text(question, 'the question')}"))


def translate(text: str, target_language: str, source_language: str | None = None) -> Prompt:
    source = f" from {source_language.strip()}" if source_language and source_language.strip() \
        else ""
    target = _text(target_language, "the target language").strip()
    return Prompt(
        system=(f"Translate the user's text{source} into {target}. Keep its meaning, tone "
                "and formatting. Reply with the translation only."),
        user=_text(text, "the text to translate"))
