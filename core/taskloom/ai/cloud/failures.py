"""SDK exceptions → the queue's two answers: try again later, or fail now.

    429, 408, 409, 5xx (529 overloaded), timeouts, lost connections, a stream
    that breaks off with a server-side error event (overloaded, api_error)
        → JobRetryableError, with ``retry_after`` from the response's headers
    400, 401, 403, 404, 422 and any other 4xx, a 429 for an exhausted quota
    (``insufficient_quota``), a malformed response, a base URL that cannot
    work (no scheme, a port past 65535)
        → JobPermanentError, with a message that says what to check

A connection failure names the URL actually used (``base_url``, else the
SDK's ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``, else the vendor's) and the
cause at the bottom of the chain ("Connection refused"), not the SDK's
"Connection error." nor anyio's "unhandled errors in a TaskGroup".

The message is rebuilt here from the status and the server's own words, with
every key-shaped string redacted, and raised *without* chaining the SDK's
exception: that one holds the request, headers and all.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any

from ...errors import JobPermanentError, JobRetryableError, QueueError
from .keys import ENV_VARS, shorten

VENDOR_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: 429 codes that waiting does not cure: the account is out of credit.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
#: Error types a stream may end with after its 200 OK, that another try can cure.
RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error",
                                     "timeout_error", "server_error"})
MAX_SERVER_MESSAGE = 300
#: A Retry-After beyond this is treated as this: a garbled header (or a clock far
#: off) must not park a job, and its whole queue, for days.
MAX_RETRY_AFTER = 3600.0

_HINTS = {
    400: "the request was refused; check the model name and the options",
    401: "the API key was rejected; check {env_var} (or the api_key you passed)",
    403: "the API key may not use this model or endpoint",
    404: "no such model or endpoint at {base_url}",
    413: "the request is too large for the model",
    422: "the request was refused; check the model name and the options",
}


def translate_error(exc: BaseException, sdk: ModuleType, *, provider: str, model: str,
                    base_url: str, secrets: Iterable[str],
                    base_url_source: str | None = None) -> QueueError | None:
    """The taskloom error for an SDK exception (or one from its HTTP stack), or None.

    ``base_url`` is the URL the call used and ``base_url_source`` what set it
    (``"base_url"``, ``"$OPENAI_BASE_URL"``; None for the vendor's default).
    """
    vendor = VENDOR_NAMES.get(provider, provider)
    secrets = list(secrets)
    where = f"{vendor} ({model})"
    url = base_url if base_url_source is None else f"{base_url} (set by {base_url_source})"
    if isinstance(exc, sdk.APITimeoutError):
        return JobRetryableError(f"{where}: the request to {url} timed out; it will be retried")
    if isinstance(exc, sdk.APIConnectionError):
        return _connection_failure(exc, where, url, base_url_source, secrets)
    if _in_stream(exc, sdk):
        said = server_message(exc, secrets)
        kind = error_type(exc)
        if kind in RETRYABLE_STREAM_ERRORS:
            return JobRetryableError(f"{where}: the stream broke off ({kind}): {said}")
        return JobPermanentError(f"{where}: the stream was refused ({kind}): {said}")
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        said = server_message(exc, secrets)
        if status == 429 and error_code(exc) in QUOTA_CODES:
            error = JobPermanentError(f"{where}: HTTP 429, the account has no quota left; "
                                      f"check its plan and billing: {said}")
        elif status in RETRYABLE_STATUSES or status >= 500:
            retry_after = retry_after_from_headers(exc.response.headers)
            wait = "" if retry_after is None else f", retry after {retry_after:g} s"
            error = JobRetryableError(f"{where}: HTTP {status}{wait}: {said}",
                                      retry_after=retry_after)
        else:
            hint = _HINTS.get(status, "the request was refused").format(
                env_var=ENV_VARS.get(provider, "the API key"), base_url=base_url)
            error = JobPermanentError(f"{where}: HTTP {status}, {hint}: {said}")
        error.status_code = status  # type: ignore[attr-defined]
        return error
    if isinstance(exc, sdk.APIError):  # a response that does not parse
        said = server_message(exc, secrets)
        return JobPermanentError(f"{where}: unexpected response: {said}")
    if isinstance(exc, _sdk_base_error(sdk)):
        return JobPermanentError(f"{where}: {shorten(str(exc), MAX_SERVER_MESSAGE, secrets)}")
    if _from_http_stack(exc):
        return _connection_failure(exc, where, url, base_url_source, secrets)
    return None


def _connection_failure(exc: BaseException, where: str, url: str, source: str | None,
                        secrets: list[str]) -> QueueError:
    cause = shorten(root_cause(exc), MAX_SERVER_MESSAGE, secrets).rstrip(".")
    if _bad_url(exc):
        return JobPermanentError(f"{where}: cannot connect to {url}: {cause}; "
                                 f"check {source or 'the base URL'}")
    return JobRetryableError(f"{where}: cannot reach {url}: {cause}; it will be retried")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, then what caused it, down to the bottom; an exception group gives its
    first leaf (anyio's connect wraps the socket's error in one)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
    return found


def root_cause(exc: BaseException) -> str:
    """A few words for what went wrong at the bottom: "Connection refused", or what
    the HTTP stack said of a URL it refused ("Invalid port: 'abc'")."""
    chain = _chain(exc)
    bottom = next((link for link in chain if type(link).__name__ in _BAD_URL_ERRORS),
                  chain[-1])
    if isinstance(bottom, OSError) and bottom.errno is not None:
        if bottom.errno > 0:
            return os.strerror(bottom.errno)
        return str(bottom.strerror or bottom)  # a resolver error: "Name or service not known"
    return " ".join(str(bottom).split()) or type(bottom).__name__


def _from_http_stack(exc: BaseException) -> bool:
    """An error the SDK let through from httpx, httpcore or anyio (a bad port, a bad
    URL, an exception group) rather than wrapping it as APIConnectionError."""
    for link in _chain(exc):
        module = type(link).__module__.split(".")[0]
        if module.startswith(("httpx", "httpcore", "anyio")):
            return True
    return isinstance(exc, BaseExceptionGroup) and all(
        isinstance(leaf, OSError | OverflowError | ValueError) for leaf in exc.exceptions)


#: Errors that say the URL itself cannot work, so that no retry can help.
_BAD_URL_ERRORS = frozenset({"InvalidURL", "UnsupportedProtocol"})


def _bad_url(exc: BaseException) -> bool:
    return any(type(link).__name__ in _BAD_URL_ERRORS
               or (isinstance(link, OverflowError | ValueError) and not isinstance(link, OSError))
               for link in _chain(exc))


def _in_stream(exc: BaseException, sdk: ModuleType) -> bool:
    """An error event inside a stream that had begun with 200 OK: Anthropic's SDK raises
    a status error carrying that 200, OpenAI's a plain APIError with the error body."""
    if isinstance(exc, sdk.APIStatusError):
        return exc.status_code < 400
    return isinstance(exc, sdk.APIError) and error_type(exc) is not None


def _sdk_base_error(sdk: ModuleType) -> type[BaseException]:
    return getattr(sdk, "OpenAIError", None) or sdk.AnthropicError


def error_type(exc: Any) -> str | None:
    """The ``type`` of an error body (``{"error": {"type": …}}`` or ``{"type": …}``)."""
    body = getattr(exc, "body", None)
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error", body)
    kind = inner.get("type") if isinstance(inner, Mapping) else None
    return kind if isinstance(kind, str) and kind != "error" else None


def error_code(exc: Any) -> str | None:
    """The ``code`` of an OpenAI-style error body (``insufficient_quota``…)."""
    code = getattr(exc, "code", None)
    body = getattr(exc, "body", None)
    if code is None and isinstance(body, Mapping):
        inner = body.get("error", body)
        code = inner.get("code") if isinstance(inner, Mapping) else None
    return code if isinstance(code, str) else None


def server_message(exc: Any, secrets: Iterable[str] = ()) -> str:
    """The human part of an error body (``{"error": {"message": …}}`` in both vendors),
    redacted, then cut to MAX_SERVER_MESSAGE characters."""
    body = getattr(exc, "body", None)
    message: Any = None
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message")
        elif isinstance(inner, str):
            message = inner
    elif isinstance(body, str) and body.strip():
        message = body
    if not message:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return shorten(" ".join(str(message).split()), MAX_SERVER_MESSAGE, secrets)


# -- how long the server wants us to wait ------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: (remaining header, reset header) pairs, OpenAI's durations then Anthropic's timestamps.
_RATE_LIMIT_HEADERS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
    ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
)


def retry_after_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait: ``retry-after-ms``, ``Retry-After`` (seconds or HTTP date), else the
    reset time of an exhausted rate limit (``x-ratelimit-reset-*``,
    ``anthropic-ratelimit-*-reset``), at most MAX_RETRY_AFTER. None when the response
    says nothing."""
    wait = _retry_after(headers, time.time() if now is None else now)
    return None if wait is None else min(wait, MAX_RETRY_AFTER)


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    if (value := _seconds(lowered.get("retry-after-ms"))) is not None:
        return value / 1000.0
    if (value := _seconds(lowered.get("retry-after"))) is not None:
        return value
    if (value := _http_date(lowered.get("retry-after"), now)) is not None:
        return value
    # Only a limit that is used up says when to come back; the others' resets do not.
    exhausted = [reset for remaining_header, reset_header in _RATE_LIMIT_HEADERS
                 if lowered.get(remaining_header, "").strip() == "0"
                 and (reset := _reset_in(lowered.get(reset_header), now)) is not None]
    return max(exhausted) if exhausted else None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _http_date(value: str | None, now: float) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _reset_in(value: str | None, now: float) -> float | None:
    """OpenAI sends durations ("1s", "6m0s", "20ms"); Anthropic RFC 3339 timestamps."""
    if not value:
        return None
    value = value.strip()
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
    except ValueError:
        return _seconds(value)
