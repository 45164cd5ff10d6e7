"""What a cloud model call returns: plain data, JSON-ready, with no trace of the key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TextResult:
    text: str
    model: str
    provider: str
    #: The vendor's own word: "stop"/"length" (OpenAI), "end_turn"/"max_tokens" (Anthropic).
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    model: str
    provider: str
    input_tokens: int | None = None
    dimensions: int = field(init=False)

    def __post_init__(self) -> None:
        self.dimensions = len(self.vectors[0]) if self.vectors else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
