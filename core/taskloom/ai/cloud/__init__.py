"""Cloud models: OpenAI and Anthropic through their official SDKs.

- ``openai``: ``OpenAIProvider`` — chat completions (plain, streamed) and embeddings;
  ``base_url`` reaches any OpenAI-compatible server.
- ``anthropic``: ``AnthropicProvider`` — the Messages API (plain, streamed).
- ``base``: what both share — rewrite/summarize/answer/translate as prompt
  templates (``prompts``) over ``generate``, one SDK client per call, errors
  mapped by ``failures`` (429/5xx/timeouts retryable with the server's
  Retry-After; 400/401/403 permanent), aborts that close the stream
  (``streaming``).
- ``keys``: keys come from the environment or an explicit argument, and are
  redacted from every message we build.
- ``limits``: per-provider default rate limits and the limiter for a provider's queue.
- ``run_functions``: ``register()`` plugs it all into the provider registry.

Nothing here imports an SDK until a call runs (``pip install 'taskloom[openai]'``
or ``'taskloom[anthropic]'``), and nothing uses threads: the same code runs in
Pyodide, given an ``http_client`` whose transport is the browser's fetch.
"""

from .anthropic import AnthropicProvider
from .base import CloudProvider
from .keys import SecretKey, redact
from .limits import (
    DEFAULT_LIMITS,
    ProviderLimits,
    provider_limiter,
    provider_limits,
    provider_queue,
)
from .openai import OpenAIProvider
from .results import EmbeddingResult, TextResult
from .run_functions import DEFAULT_CLOUD_MODELS, cloud_model, register, run_functions
from .streaming import progress_callback

__all__ = [
    "DEFAULT_CLOUD_MODELS",
    "DEFAULT_LIMITS",
    "AnthropicProvider",
    "CloudProvider",
    "EmbeddingResult",
    "OpenAIProvider",
    "ProviderLimits",
    "SecretKey",
    "TextResult",
    "cloud_model",
    "progress_callback",
    "provider_limiter",
    "provider_limits",
    "provider_queue",
    "redact",
    "register",
    "run_functions",
]
