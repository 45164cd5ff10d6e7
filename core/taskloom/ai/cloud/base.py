"""CloudProvider: what the OpenAI and Anthropic providers share.

A provider object holds settings (key source, ``base_url``, timeout) and one
HTTP connection pool per event loop; each call wraps that pool in a fresh SDK
client (0.1 ms) carrying the key it resolved just then. Building the pool is
what costs (an SSL context: 35-50 ms here), so it is kept; tying it to its
loop means a closed loop (a finished ``asyncio.run``, a test) never hands a
dead pool to the next one. The pool holds connections, never a key.

The SDK's own retries are off by default (``max_retries=0``): the job queue
retries, with the limiter and the run record in the loop. Pass
``max_retries`` to let the SDK retry when calling a provider directly.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import weakref
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from ...errors import ModelDependencyError, ModelInputError
from ...task import AbortSignal
from . import prompts
from .failures import translate_error
from .keys import ENV_VARS, SecretKey, resolve_api_key
from .results import TextResult
from .streaming import TextCallback, until_aborted

T = TypeVar("T")

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_TOKENS = 1024


class CloudProvider:
    #: Registry name, environment-variable and pip-extra key: "openai", "anthropic".
    name: ClassVar[str]
    sdk_module: ClassVar[str]
    default_base_url: ClassVar[str]
    #: The variable the vendor's SDK reads a base URL from (OPENAI_BASE_URL…).
    base_url_env: ClassVar[str]

    def __init__(self, *, api_key: str | SecretKey | None = None, base_url: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 0,
                 default_max_tokens: int = DEFAULT_MAX_TOKENS, http_client: Any = None,
                 api_key_env: str | None = None) -> None:
        """``api_key`` None reads the environment variable ``api_key_env`` (by default
        OPENAI_API_KEY / ANTHROPIC_API_KEY) at each call.
        ``http_client`` (an ``httpx2.AsyncClient``) replaces the per-loop pools and is
        never closed here; the browser passes one whose transport is ``fetch``."""
        if timeout <= 0:
            raise ValueError("timeout must be positive seconds")
        self._api_key = api_key if isinstance(api_key, SecretKey) or api_key is None \
            else SecretKey(api_key)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.default_max_tokens = default_max_tokens
        self.http_client = http_client
        self.api_key_env = api_key_env
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = \
            weakref.WeakKeyDictionary()

    def with_options(self, **changes: Any) -> CloudProvider:
        """A copy with some settings replaced (the key source stays unless given)."""
        settings = {"api_key": self._api_key, "base_url": self.base_url,
                    "timeout": self.timeout, "max_retries": self.max_retries,
                    "default_max_tokens": self.default_max_tokens,
                    "http_client": self.http_client, "api_key_env": self.api_key_env}
        settings.update(changes)
        copy = type(self)(**settings)
        copy._pools = self._pools  # connections do not depend on the settings
        return copy

    def __repr__(self) -> str:
        key = "explicit" if self._api_key is not None \
            else f"from ${self.api_key_env or ENV_VARS[self.name]}"
        return (f"{type(self).__name__}(base_url={self.endpoint()[0]!r}, "
                f"api_key={key})")

    def endpoint(self) -> tuple[str, str | None]:
        """The base URL a call uses, and what chose it: ``base_url``, the SDK's
        environment variable (which the SDK itself would read) or None for the
        vendor's default. Read at each call, as the key is."""
        if self.base_url:
            return self.base_url, "base_url"
        from_env = os.environ.get(self.base_url_env, "").strip().rstrip("/")
        if from_env:
            return from_env, f"${self.base_url_env}"
        return self.default_base_url, None

    @property
    def custom_base_url(self) -> bool:
        """True for an OpenAI-compatible (or proxy) server rather than the vendor's own."""
        return self.endpoint()[0] != self.default_base_url

    # -- plumbing ----------------------------------------------------------------

    def sdk(self) -> ModuleType:
        try:
            return importlib.import_module(self.sdk_module)
        except ImportError:
            raise ModelDependencyError(
                f"the {self.name} provider needs the {self.sdk_module!r} package: "
                f"pip install 'taskloom[{self.name}]'") from None

    def make_client(self, api_key: str, base_url: str | None = None) -> Any:
        """An SDK client with this key, for ``base_url`` (default: ``endpoint()``)."""
        raise NotImplementedError

    def connection_pool(self) -> Any:
        """The ``http_client`` given, else this event loop's pool (made on first use)."""
        if self.http_client is not None:
            return self.http_client
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None or pool.is_closed:
            pool = self._pools[loop] = self.sdk().DefaultAsyncHttpxClient()
            closer = loop.create_task(_close_at_shutdown(pool),
                                      name=f"taskloom: close {self.name} connections")
            _closers.add(closer)  # the loop keeps only a weak reference to its tasks
            closer.add_done_callback(_closers.discard)
        return pool

    async def aclose(self) -> None:
        """Close this event loop's connection pool (not a ``http_client`` that was given)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()

    async def call(self, model: str, body: Callable[[Any], Awaitable[T]],
                   signal: AbortSignal | None = None) -> T:
        """Run ``body(client)``; SDK errors come out as JobRetryableError/JobPermanentError."""
        check_model(model)
        sdk = self.sdk()
        base_url, chosen_by = self.endpoint()
        key = resolve_api_key(self.name, self._api_key,
                              custom_base_url=base_url != self.default_base_url,
                              env_var=self.api_key_env)
        failure = None
        try:
            # Inside the try: the SDK parses the URL here, and refuses "http://h:abc".
            client = self.make_client(key, base_url)
            return await until_aborted(body(client), signal)
        except Exception as exc:
            failure = translate_error(exc, sdk, provider=self.name, model=model,
                                      base_url=base_url, base_url_source=chosen_by,
                                      secrets=[key])
            if failure is None:
                raise
        # Raised here, outside the except block, so that the SDK's exception (which
        # holds the request and its auth header) is neither chained nor kept as context.
        raise failure

    # -- generation and the tasks built on it --------------------------------------

    async def generate(self, prompt: str, *, model: str, system: str | None = None,
                       max_tokens: int | None = None, temperature: float | None = None,
                       stream: bool = False, on_text: TextCallback | None = None,
                       signal: AbortSignal | None = None) -> TextResult:
        """Complete ``prompt``. With ``stream``, ``on_text(delta, text_so_far)`` gets the
        text as it arrives; without, once at the end. ``signal`` aborts mid-stream
        (CancelledError, the connection closed)."""
        raise NotImplementedError

    async def rewrite(self, text: str, instruction: str, *, model: str,
                      **options: Any) -> TextResult:
        return await self._templated(prompts.rewrite(text, instruction), model, options)

    async def summarize(self, text: str, *, model: str, sentences: int | None = None,
                        **options: Any) -> TextResult:
        return await self._templated(prompts.summarize(text, sentences), model, options)

    async def answer(self, question: str, context: str, *, model: str,
                     **options: Any) -> TextResult:
        return await self._templated(prompts.answer(question, context), model, options)

    async def translate(self, text: str, *, target_language: str, model: str,
                        source_language: str | None = None, **options: Any) -> TextResult:
        prompt = prompts.translate(text, target_language, source_language)
        return await self._templated(prompt, model, options)

    async def _templated(self, prompt: prompts.Prompt, model: str,
                         options: dict[str, Any]) -> TextResult:
        return await self.generate(prompt.user, system=prompt.system, model=model, **options)


_closers: set[asyncio.Task[None]] = set()


async def _close_at_shutdown(pool: Any) -> None:
    """Wait for ever; when the loop shuts down (``asyncio.run`` cancels what is left),
    close the pool inside it, so that no socket outlives its loop."""
    try:
        await asyncio.Event().wait()
    finally:
        await pool.aclose()


def check_model(model: object) -> None:
    if not isinstance(model, str) or not model.strip():
        raise ModelInputError(f"a cloud model name is needed (got {model!r})")


def check_prompt(prompt: object, max_tokens: int | None, temperature: float | None) -> str:
    if not isinstance(prompt, str):
        raise ModelInputError(f"the prompt must be a string, not {type(prompt).__name__}")
    if not prompt.strip():
        raise ModelInputError("the prompt is empty")
    if max_tokens is not None and max_tokens < 1:
        raise ModelInputError("max_tokens must be at least 1")
    if temperature is not None and not 0 <= temperature <= 2:
        raise ModelInputError("temperature must be between 0 and 2")
    return prompt
