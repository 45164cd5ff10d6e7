"""Anthropic provider: the Messages API (plain and streamed) through the official
``anthropic`` SDK (``pip install 'taskloom[anthropic]'``). Anthropic has no
embeddings endpoint; use OpenAI or a local model for TextEmbedding.

    provider = AnthropicProvider()                   # ANTHROPIC_API_KEY from the environment
    result = await provider.generate("Hello", model="claude-haiku-4-5", stream=True,
                                     on_text=lambda delta, text: print(delta, end=""))
"""

from __future__ import annotations

from typing import Any

from ...task import AbortSignal
from .base import CloudProvider, check_prompt
from .results import TextResult
from .streaming import TextCallback, deliver

ANTHROPIC_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider(CloudProvider):
    name = "anthropic"
    sdk_module = "anthropic"
    default_base_url = ANTHROPIC_BASE_URL
    base_url_env = "ANTHROPIC_BASE_URL"

    def make_client(self, api_key: str, base_url: str | None = None) -> Any:
        sdk = self.sdk()
        return sdk.AsyncAnthropic(api_key=api_key, base_url=base_url or self.endpoint()[0],
                                  timeout=self.timeout, max_retries=self.max_retries,
                                  http_client=self.connection_pool())

    async def generate(self, prompt: str, *, model: str, system: str | None = None,
                       max_tokens: int | None = None, temperature: float | None = None,
                       stream: bool = False, on_text: TextCallback | None = None,
                       signal: AbortSignal | None = None) -> TextResult:
        check_prompt(prompt, max_tokens, temperature)
        # The Messages API requires max_tokens.
        request: dict[str, Any] = {"model": model,
                                   "max_tokens": max_tokens or self.default_max_tokens,
                                   "messages": [{"role": "user", "content": prompt}]}
        if system:
            request["system"] = system
        # ``temperature`` is accepted for parity and not sent: this SDK generation
        # (anthropic 2.x) no longer has the parameter, so the API may refuse it.

        async def complete(client: Any) -> TextResult:
            message = await client.messages.create(**request)
            text = "".join(block.text for block in message.content
                           if getattr(block, "type", None) == "text")
            usage = message.usage
            await deliver(on_text, text, text)
            return TextResult(text=text, model=message.model or model, provider=self.name,
                              finish_reason=message.stop_reason,
                              input_tokens=usage.input_tokens if usage else None,
                              output_tokens=usage.output_tokens if usage else None)

        async def complete_streaming(client: Any) -> TextResult:
            parts: list[str] = []
            finish_reason = input_tokens = output_tokens = None
            served_by = model
            stream = await client.messages.create(stream=True, **request)
            async with stream:
                async for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        served_by = event.message.model or served_by
                        if event.message.usage is not None:
                            input_tokens = event.message.usage.input_tokens
                    elif kind == "content_block_delta" and event.delta.type == "text_delta":
                        parts.append(event.delta.text)
                        await deliver(on_text, event.delta.text, "".join(parts))
                    elif kind == "message_delta":
                        finish_reason = event.delta.stop_reason or finish_reason
                        if event.usage is not None:
                            output_tokens = event.usage.output_tokens
            return TextResult(text="".join(parts), model=served_by, provider=self.name,
                              finish_reason=finish_reason, input_tokens=input_tokens,
                              output_tokens=output_tokens)

        return await self.call(model, complete_streaming if stream else complete, signal)
