"""CloudProvider: what the OpenAI and Anthropic providers share.

A provider object holds settings only (key source, ``base_url``, timeout);
each call builds its own SDK client and closes it afterwards. That costs a
millisecond against calls that take seconds, and buys: no client tied to an
event loop that a test or a page reload has since closed, and no key kept
alive in a module-level cache.

The SDK's own retries are off by default (``max_retries=0``): the job queue
retries, with the limiter and the run record in the loop. Pass
``max_retries`` to let the SDK retry when calling a provider directly.
"""

from __future__ import annotations

import importlib
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

    def __init__(self, *, api_key: str | SecretKey | None = None, base_url: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 0,
                 default_max_tokens: int = DEFAULT_MAX_TOKENS, http_client: Any = None,
                 api_key_env: str | None = None) -> None:
        """``api_key`` None reads the environment variable ``api_key_env`` (by default
        OPENAI_API_KEY / ANTHROPIC_API_KEY) at each call.
        ``http_client`` (an ``httpx2.AsyncClient``) is handed to the SDK and left open;
        the browser passes one whose transport is ``fetch``."""
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

    def with_options(self, **changes: Any) -> CloudProvider:
        """A copy with some settings replaced (the key source stays unless given)."""
        settings = {"api_key": self._api_key, "base_url": self.base_url,
                    "timeout": self.timeout, "max_retries": self.max_retries,
                    "default_max_tokens": self.default_max_tokens,
                    "http_client": self.http_client, "api_key_env": self.api_key_env}
        settings.update(changes)
        return type(self)(**settings)

    def __repr__(self) -> str:
        key = "explicit" if self._api_key is not None \
            else f"from ${self.api_key_env or ENV_VARS[self.name]}"
        return (f"{type(self).__name__}(base_url={self.base_url or self.default_base_url!r}, "
                f"api_key={key})")

    @property
    def custom_base_url(self) -> bool:
        """True for an OpenAI-compatible (or proxy) server rather than the vendor's own."""
        return self.base_url is not None and self.base_url != self.default_base_url

    # -- plumbing ----------------------------------------------------------------

    def sdk(self) -> ModuleType:
        try:
            return importlib.import_module(self.sdk_module)
        except ImportError:
            raise ModelDependencyError(
                f"the {self.name} provider needs the {self.sdk_module!r} package: "
                f"pip install 'taskloom[{self.name}]'") from None

    def make_client(self, api_key: str) -> Any:
        raise NotImplementedError

    async def call(self, model: str, body: Callable[[Any], Awaitable[T]],
                   signal: AbortSignal | None = None) -> T:
        """Run ``body(client)``; SDK errors come out as JobRetryableError/JobPermanentError."""
        check_model(model)
        sdk = self.sdk()
        key = resolve_api_key(self.name, self._api_key, custom_base_url=self.custom_base_url,
                              env_var=self.api_key_env)
        client = self.make_client(key)
        failure = None
        try:
            return await until_aborted(body(client), signal)
        except Exception as exc:
            failure = translate_error(exc, sdk, provider=self.name, model=model,
                                      base_url=self.base_url or self.default_base_url,
                                      secrets=[key])
            if failure is None:
                raise
        finally:
            if self.http_client is None:
                await client.close()
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
