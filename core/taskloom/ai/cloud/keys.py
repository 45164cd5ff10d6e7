"""API keys: where they come from, and how they are kept out of everything we write.

A key is read from an explicit argument or from the provider's environment
variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) at the moment of a call,
never stored in graph JSON, job inputs, outputs, run records or logs. Text
that might echo one back — an error body from the server, say — goes through
``redact()`` before anybody sees it, and through ``shorten()`` when it must
also be cut: redaction first, so that a cut can never fall inside a whole key,
then once more at the cut, for a prefix of a key the text held only in part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ...errors import JobPermanentError

ENV_VARS: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

#: What an OpenAI-compatible local server gets when none is set: most ignore auth,
#: and the SDK refuses to send a request without some key.
NO_KEY_PLACEHOLDER = "no-key"

REDACTED = "[redacted]"

# Key-shaped strings we scrub even when they are not the key in use (a server
# may echo another one): vendor prefixes, and whatever follows "Bearer".
_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{12,}"),
    # The start of a vendor key at a cut, however short: "sk-proj-4f…".
    re.compile(r"sk-[A-Za-z0-9_\-]+(?=…|\.\.\.|\Z)"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
)


class SecretKey:
    """An API key that never shows itself in repr(), str() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretKey({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> None:  # pickling would write the key out
        raise TypeError("a SecretKey cannot be pickled")


def resolve_api_key(provider: str, explicit: str | SecretKey | None, *,
                    custom_base_url: bool = False, env_var: str | None = None) -> str:
    """The key to send: the explicit one, else the environment's (``env_var``, by
    default the provider's own variable).

    Without either, a custom ``base_url`` (a local OpenAI-compatible server)
    gets a placeholder; the vendor's own endpoint fails at once, since no
    retry can conjure a key.
    """
    if isinstance(explicit, SecretKey):
        explicit = explicit.reveal()
    if explicit:
        return explicit
    env_var = env_var or ENV_VARS[provider]
    from_env = os.environ.get(env_var, "").strip()
    if from_env:
        return from_env
    if custom_base_url:
        return NO_KEY_PLACEHOLDER
    raise JobPermanentError(
        f"no {provider} API key: set the {env_var} environment variable or pass api_key=")


#: A secret's prefix this long, left where a text was cut, is redacted as well.
MIN_PREFIX = 4
#: Where a text may have been cut: an ellipsis, three dots, its very end.
_CUTS = re.compile(r"…|\.\.\.|\Z")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret, any prefix of one (``MIN_PREFIX`` characters or
    more) that ends where the text was cut, and anything shaped like a key, replaced."""
    for secret in secrets:
        if secret and secret != NO_KEY_PLACEHOLDER:
            text = _redact_prefix_at_cuts(text.replace(secret, REDACTED), secret)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def shorten(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """``text`` redacted, then cut to ``limit`` characters with "…", then redacted again."""
    secrets = list(secrets)
    text = redact(text, secrets)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return redact(text, secrets)


def _redact_prefix_at_cuts(text: str, secret: str) -> str:
    if len(secret) < MIN_PREFIX or secret[:MIN_PREFIX] not in text:
        return text
    pieces, start = [], 0
    for cut in _CUTS.finditer(text):
        end = cut.start()
        longest = 0
        for size in range(min(len(secret), end - start), MIN_PREFIX - 1, -1):
            if text.startswith(secret[:size], end - size):
                longest = size
                break
        if longest:
            pieces.append(text[start:end - longest] + REDACTED)
            start = end
    pieces.append(text[start:])
    return "".join(pieces)
