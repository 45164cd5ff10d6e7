"""OpenAI provider: chat completions (plain and streamed) and embeddings, through the
official ``openai`` SDK (``pip install 'taskloom[openai]'``).

``base_url`` points it at any OpenAI-compatible server (llama.cpp, vLLM,
Ollama, LM Studio …); such a server gets a placeholder key when none is set.

    provider = OpenAIProvider()                      # OPENAI_API_KEY from the environment
    result = await provider.generate("Hello", model="gpt-4o-mini", stream=True,
                                     on_text=lambda delta, text: print(delta, end=""))
    vectors = (await provider.embed(["a", "b"], model="text-embedding-3-small")).vectors
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ModelInputError
from ...task import AbortSignal
from .base import CloudProvider, check_prompt
from .results import EmbeddingResult, TextResult
from .streaming import TextCallback, deliver

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(CloudProvider):
    name = "openai"
    sdk_module = "openai"
    default_base_url = OPENAI_BASE_URL
    base_url_env = "OPENAI_BASE_URL"

    def make_client(self, api_key: str, base_url: str | None = None) -> Any:
        sdk = self.sdk()
        return sdk.AsyncOpenAI(api_key=api_key, base_url=base_url or self.endpoint()[0],
                               timeout=self.timeout, max_retries=self.max_retries,
                               http_client=self.connection_pool())

    async def generate(self, prompt: str, *, model: str, system: str | None = None,
                       max_tokens: int | None = None, temperature: float | None = None,
                       stream: bool = False, on_text: TextCallback | None = None,
                       signal: AbortSignal | None = None) -> TextResult:
        check_prompt(prompt, max_tokens, temperature)
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        request: dict[str, Any] = {"model": model, "messages": messages}
        if max_tokens is not None:
            # OpenAI's reasoning models refuse "max_tokens"; compatible servers
            # mostly know only that one.
            request["max_tokens" if self.custom_base_url else "max_completion_tokens"] = max_tokens
        if temperature is not None:
            request["temperature"] = temperature

        async def complete(client: Any) -> TextResult:
            response = await client.chat.completions.create(**request)
            choice = response.choices[0] if response.choices else None
            text = (choice.message.content or "") if choice else ""
            usage = response.usage
            await deliver(on_text, text, text)
            return TextResult(text=text, model=response.model or model, provider=self.name,
                              finish_reason=choice.finish_reason if choice else None,
                              input_tokens=usage.prompt_tokens if usage else None,
                              output_tokens=usage.completion_tokens if usage else None)

        async def complete_streaming(client: Any) -> TextResult:
            if not self.custom_base_url:
                request["stream_options"] = {"include_usage": True}
            parts: list[str] = []
            finish_reason = input_tokens = output_tokens = None
            served_by = model
            stream = await client.chat.completions.create(stream=True, **request)
            async with stream:
                async for chunk in stream:
                    served_by = chunk.model or served_by
                    if chunk.usage is not None:
                        input_tokens = chunk.usage.prompt_tokens
                        output_tokens = chunk.usage.completion_tokens
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish_reason = choice.finish_reason or finish_reason
                    delta = (choice.delta.content or "") if choice.delta else ""
                    if delta:
                        parts.append(delta)
                        await deliver(on_text, delta, "".join(parts))
            return TextResult(text="".join(parts), model=served_by, provider=self.name,
                              finish_reason=finish_reason, input_tokens=input_tokens,
                              output_tokens=output_tokens)

        return await self.call(model, complete_streaming if stream else complete, signal)

    async def embed(self, texts: str | Sequence[str], *, model: str,
                    dimensions: int | None = None,
                    signal: AbortSignal | None = None) -> EmbeddingResult:
        """One vector per text, in order (a single string gives one vector)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            raise ModelInputError("no texts to embed")
        for i, text in enumerate(batch):
            if not isinstance(text, str) or not text.strip():
                raise ModelInputError(f"text {i} to embed is empty or not a string")
        if dimensions is not None and dimensions < 1:
            raise ModelInputError("dimensions must be at least 1")
        # Floats, not the SDK's default base64: compatible servers often lack base64.
        request: dict[str, Any] = {"model": model, "input": batch, "encoding_format": "float"}
        if dimensions is not None:
            request["dimensions"] = dimensions

        async def create(client: Any) -> EmbeddingResult:
            response = await client.embeddings.create(**request)
            rows = sorted(response.data, key=lambda row: row.index)
            if len(rows) != len(batch):
                raise ModelInputError(f"the server returned {len(rows)} embeddings "
                                      f"for {len(batch)} texts")
            usage = response.usage
            return EmbeddingResult(vectors=[[float(x) for x in row.embedding] for row in rows],
                                   model=response.model or model, provider=self.name,
                                   input_tokens=usage.prompt_tokens if usage else None)

        return await self.call(model, create, signal)
