"""Local ONNX models under CPython: onnxruntime + tokenizers on the folders Transformers.js reads.

A model folder has the Hugging Face layout that ``scripts/build-models``
assembles in ``dist/models/<name>/``: ``config.json``, ``tokenizer.json``,
``onnx/model_quantized.onnx`` (``dtype="q8"``, the default, as in
Transformers.js on WebAssembly) and/or ``onnx/model.onnx`` (``dtype="fp32"``).
Nothing here downloads anything.

    embed(texts, model_dir)                  L2-normalised mean-pooled vectors (MiniLM)
    embed_array(...), aembed(...)            the same as a numpy array / without blocking
    generate(prompt, model_dir, n)           text from a causal LM (glassllm)
    generate_steps(...)                      the same, one GenerationStep per token
    stream_generate(...), agenerate(...)     async: one token per await, cancellable between tokens
    summarize(text, model_dir, n)            the n most central sentences (extractive)
    answer(question, context, model_dir)     the best-matching sentence and its score

Text longer than the model's context is an error (``ContextLengthError``,
with ``n_tokens`` and ``limit``) unless the caller passes ``truncate=True``:
then embeddings keep the first tokens and generation keeps the last tokens
of the prompt, and a ``ContextTruncatedWarning`` says so. An error is the
default because silent truncation changes results without a trace (note that
Transformers.js truncates silently). Generation that runs past the context
slides its window, re-reading the last ``context`` tokens, as glassllm does.

onnxruntime, tokenizers and numpy are imported inside functions, so that
``import taskloom`` never needs them (``pip install taskloom[onnx]``). This is
a CPython-only backend: onnxruntime has no asyncio API, so the async
functions run each blocking model call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import json
import math
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from taskloom.ai.extractive import Answer, AnswerSearch, Summary
from taskloom.ai.local import context_length_error
from taskloom.errors import (
    AiError,
    ContextLengthError,
    ModelDependencyError,
    ModelInputError,
    ModelNotFoundError,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Answer",
    "ContextTruncatedWarning",
    "GenerationStep",
    "LocalModel",
    "aembed",
    "agenerate",
    "answer",
    "check_dtype",
    "clear_model_cache",
    "embed",
    "embed_array",
    "generate",
    "generate_steps",
    "load_model",
    "stream_generate",
    "summarize",
]

Dtype = Literal["q8", "fp32"]
ONNX_FILES: dict[str, str] = {"q8": "model_quantized.onnx", "fp32": "model.onnx"}


class ContextTruncatedWarning(UserWarning):
    """A text was cut to fit the model's context because the caller passed truncate=True."""


def check_dtype(dtype: object) -> Dtype:
    """``dtype`` if it names weights a model folder may hold (both runtimes read the same)."""
    if dtype not in ONNX_FILES:
        raise ModelInputError(f"dtype must be one of {', '.join(ONNX_FILES)}, not {dtype!r}")
    return dtype  # type: ignore[return-value]


# -- loading -----------------------------------------------------------------------


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModelDependencyError(
            f"the local ONNX provider needs {module!r}: pip install 'taskloom[onnx]'"
        ) from error


@dataclass(eq=False)
class LocalModel:
    """One loaded model folder: its session, tokenizers and configuration."""

    path: Path
    onnx_file: Path
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer: no padding, no truncation
    truncating_tokenizer: Any  # the same, truncating at context_length
    config: dict[str, Any]
    context_length: int
    input_names: frozenset[str] = field(default_factory=frozenset)
    output_names: tuple[str, ...] = ()

    @property
    def past_names(self) -> list[str]:
        return sorted(name for name in self.input_names if name.startswith("past_key_values."))

    @property
    def eos_token_ids(self) -> frozenset[int]:
        eos = self.config.get("eos_token_id")
        return frozenset(eos if isinstance(eos, list) else [] if eos is None else [eos])


_models: dict[tuple[Path, str, int], LocalModel] = {}


def clear_model_cache() -> None:
    """Forget every loaded session (the next call loads from disk again)."""
    _models.clear()


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise AiError(f"{path} is not valid JSON ({error}): rebuild the model folder") from error


def _context_length(config: dict[str, Any], tokenizer_config: dict[str, Any]) -> int:
    limits = [
        value
        for value in (
            config.get("max_position_embeddings"),
            tokenizer_config.get("model_max_length"),
        )
        # Hugging Face writes 1e30 for "no limit".
        if isinstance(value, int | float) and 0 < value < 1e9
    ]
    return int(min(limits)) if limits else 512


def load_model(model_dir: str | Path, *, dtype: Dtype = "q8") -> LocalModel:
    """Load (once, then from the cache) the model in ``model_dir`` with the weights of ``dtype``."""
    check_dtype(dtype)
    path = Path(model_dir).expanduser().resolve()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"no model folder at {path}: build it with scripts/build-models or pass the folder "
            "that holds config.json, tokenizer.json and onnx/",
            path=str(path),
        )
    onnx_file = path / "onnx" / ONNX_FILES[dtype]
    for required in (path / "config.json", path / "tokenizer.json", onnx_file):
        if not required.is_file():
            present = sorted(p.name for p in (path / "onnx").glob("*.onnx"))
            raise ModelNotFoundError(
                f"{required} is missing from the model folder"
                + (f" (onnx/ holds {', '.join(present)}; pick that dtype)" if present else ""),
                path=str(required),
            )
    key = (path, dtype, onnx_file.stat().st_mtime_ns)
    if key in _models:
        return _models[key]

    ort = _require("onnxruntime")
    tokenizers = _require("tokenizers")
    config = _read_json(path / "config.json")
    context_length = _context_length(config, _read_json(path / "tokenizer_config.json"))
    # tokenizer.json may carry fixed padding/truncation (MiniLM's pads to 128);
    # Transformers.js ignores them, and so do we: batches pad to their longest.
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        truncating = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as error:  # tokenizers raises a bare Exception for a malformed file
        raise AiError(f"cannot read {path / 'tokenizer.json'}: {error}") from error
    tokenizer.no_padding()
    tokenizer.no_truncation()
    truncating.no_padding()
    truncating.enable_truncation(max_length=context_length)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    try:
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own exception types are not public API
        raise AiError(f"onnxruntime cannot load {onnx_file}: {error}") from error
    model = LocalModel(
        path=path,
        onnx_file=onnx_file,
        session=session,
        tokenizer=tokenizer,
        truncating_tokenizer=truncating,
        config=config,
        context_length=context_length,
        input_names=frozenset(i.name for i in session.get_inputs()),
        output_names=tuple(o.name for o in session.get_outputs()),
    )
    for stale in [k for k in _models if k[:2] == key[:2]]:
        del _models[stale]  # the file changed on disk
    _models[key] = model
    return model


# -- input checks ------------------------------------------------------------------


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise ModelInputError(f"{what} must be a str, not {type(text).__name__}")
    if not text.strip():
        raise ModelInputError(f"{what} is empty: give some text")
    return text


def _too_long(what: str, n_tokens: int, limit: int, model: LocalModel) -> ContextLengthError:
    return context_length_error(what, n_tokens, limit, model.path.name)


# -- embeddings --------------------------------------------------------------------


def _encode_for_embedding(model: LocalModel, texts: Sequence[str], truncate: bool) -> list[Any]:
    encodings = model.tokenizer.encode_batch(list(texts))
    limit = model.context_length
    for index, encoding in enumerate(encodings):
        if len(encoding.ids) <= limit:
            continue
        if not truncate:
            raise _too_long(f"text {index}", len(encoding.ids), limit, model)
        warnings.warn(
            f"text {index} was cut from {len(encoding.ids)} to {limit} tokens to fit "
            f"{model.path.name}",
            ContextTruncatedWarning,
            stacklevel=4,
        )
        encodings[index] = model.truncating_tokenizer.encode(texts[index])
    return encodings


def _embed_batch(model: LocalModel, encodings: list[Any]) -> np.ndarray:
    import numpy as np

    width = max(len(e.ids) for e in encodings)
    shape = (len(encodings), width)
    ids, mask, types = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = encoding.attention_mask
        types[row, :n] = encoding.type_ids
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    feeds = {name: value for name, value in feeds.items() if name in model.input_names}
    hidden = model.session.run(None, feeds)[0]  # last_hidden_state [batch, seq, dim]
    # Mean over real tokens, then L2: what sentence-transformers does for MiniLM.
    weights = mask[:, :, None].astype(hidden.dtype)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, 1e-12)


def embed_array(
    texts: Sequence[str],
    model_dir: str | Path,
    *,
    batch_size: int = 32,
    truncate: bool = False,
    dtype: Dtype = "q8",
) -> np.ndarray:
    """Like :func:`embed`, as a float32 array of shape [len(texts), dim]."""
    import numpy as np

    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ModelInputError("texts must be a list of str; wrap a single text in a list")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ModelInputError(f"batch_size must be a positive int, not {batch_size!r}")
    for index, text in enumerate(texts):
        _check_text(text, f"text {index}")
    model = load_model(model_dir, dtype=dtype)
    if not texts:
        width = model.config.get("hidden_size", 0)
        return np.zeros((0, width), dtype=np.float32)
    encodings = _encode_for_embedding(model, texts, truncate)
    # Batches of similar length waste less work on padding.
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    vectors: list[Any] = [None] * len(texts)
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        for index, vector in zip(
            chunk, _embed_batch(model, [encodings[i] for i in chunk]), strict=True
        ):
            vectors[index] = vector
    return np.stack(vectors).astype(np.float32)


def embed(
    texts: Sequence[str],
    model_dir: str | Path,
    *,
    batch_size: int = 32,
    truncate: bool = False,
    dtype: Dtype = "q8",
) -> list[list[float]]:
    """One L2-normalised vector per text (mean pooling over the attention mask).

    Raises ModelInputError for an empty or non-str text, ContextLengthError for
    a text longer than the model's context unless ``truncate=True``.
    """
    return embed_array(
        texts, model_dir, batch_size=batch_size, truncate=truncate, dtype=dtype
    ).tolist()


async def aembed(
    texts: Sequence[str],
    model_dir: str | Path,
    *,
    batch_size: int = 32,
    truncate: bool = False,
    dtype: Dtype = "q8",
) -> list[list[float]]:
    """:func:`embed` without blocking the event loop."""
    return await asyncio.to_thread(
        embed, texts, model_dir, batch_size=batch_size, truncate=truncate, dtype=dtype
    )


# -- generation --------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationStep:
    """One generated token. ``text`` is what it adds to the output (may be "")."""

    index: int
    token_id: int
    text: str


class _Decoder:
    """Runs a causal LM one token at a time, with its KV cache when the graph has one."""

    def __init__(self, model: LocalModel):
        import numpy as np

        self.np = np
        self.model = model
        config = model.config
        heads = config.get("num_attention_heads", 1)
        self.kv_heads = config.get("num_key_value_heads", heads)
        self.head_dim = config.get("head_dim") or config.get("hidden_size", 0) // heads
        self.has_cache = bool(model.past_names)
        self.reset()

    def reset(self) -> None:
        self.past = {
            name: self.np.zeros((1, self.kv_heads, 0, self.head_dim), dtype=self.np.float32)
            for name in self.model.past_names
        }
        self.start = 0

    def logits(self, pending: list[int], context: list[int]) -> np.ndarray:
        """Next-token logits after ``context``, whose last ``pending`` tokens are not yet cached."""
        np = self.np
        tokens = pending if self.has_cache else context
        start = self.start if self.has_cache else 0
        feeds: dict[str, Any] = {
            "input_ids": np.array([tokens], dtype=np.int64),
            "attention_mask": np.ones((1, start + len(tokens)), dtype=np.int64),
            **self.past,
        }
        if "position_ids" in self.model.input_names:
            feeds["position_ids"] = np.arange(start, start + len(tokens), dtype=np.int64)[None]
        outputs = self.model.session.run(None, feeds)
        for name, value in zip(self.model.output_names, outputs, strict=True):
            if name.startswith("present"):
                self.past[name.replace("present", "past_key_values", 1)] = value
        self.start = start + len(tokens)
        return outputs[self.model.output_names.index("logits")][0, -1]


def _pick(logits: np.ndarray, temperature: float, top_k: int | None, rng: Any) -> int:
    import numpy as np

    if temperature == 0:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < len(scores):
        cutoff = np.partition(scores, -top_k)[-top_k]
        scores = np.where(scores >= cutoff, scores, -np.inf)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


def generate_steps(
    prompt: str,
    model_dir: str | Path,
    max_new_tokens: int = 32,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | None = None,
    truncate: bool = False,
    stop_at_eos: bool = True,
    dtype: Dtype = "q8",
) -> Iterator[GenerationStep]:
    """Generate one token per iteration; stop iterating to abort.

    ``temperature=0`` is greedy decoding (deterministic). A positive
    temperature samples from the softmax, limited to the ``top_k`` most likely
    tokens if given, with a NumPy generator seeded by ``seed`` (repeatable for
    a given seed). Input is checked before the first token is produced.
    """
    import numpy as np

    _check_text(prompt, "the prompt")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ModelInputError(f"max_new_tokens must be an int >= 0, not {max_new_tokens!r}")
    if (
        not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise ModelInputError(f"temperature must be a finite number >= 0, not {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ModelInputError(f"top_k must be a positive int or None, not {top_k!r}")
    model = load_model(model_dir, dtype=dtype)
    if "logits" not in model.output_names:
        raise ModelInputError(f"{model.path.name} is not a text generator (no logits output)")
    limit = model.context_length
    ids = list(model.tokenizer.encode(prompt).ids)
    if len(ids) > limit:
        if not truncate:
            raise _too_long("the prompt", len(ids), limit, model)
        warnings.warn(
            f"the prompt was cut from {len(ids)} to its last {limit} tokens to fit "
            f"{model.path.name}",
            ContextTruncatedWarning,
            stacklevel=2,
        )
        ids = ids[-limit:]
    return _steps(
        model,
        ids,
        max_new_tokens,
        float(temperature),
        top_k,
        np.random.default_rng(seed),
        stop_at_eos,
    )


def _steps(
    model: LocalModel,
    ids: list[int],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    rng: Any,
    stop_at_eos: bool,
) -> Iterator[GenerationStep]:
    decoder = _Decoder(model)
    limit = model.context_length
    pending, generated, shown = list(ids), [], ""
    for index in range(max_new_tokens):
        if decoder.start + len(pending) > limit:
            # The window is full: start again on the last `limit` tokens.
            decoder.reset()
            pending = list(ids)
        token = _pick(decoder.logits(pending, ids), temperature, top_k, rng)
        if stop_at_eos and token in model.eos_token_ids:
            return
        ids = [*ids, token][-limit:]
        pending = [token]
        generated.append(token)
        text = model.tokenizer.decode(generated)
        # A multi-byte character split across tokens decodes as U+FFFD until complete.
        added = "" if text.endswith("\ufffd") else text[len(shown) :]
        shown += added
        yield GenerationStep(index=index, token_id=token, text=added)


def generate(
    prompt: str,
    model_dir: str | Path,
    max_new_tokens: int = 32,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | None = None,
    truncate: bool = False,
    stop_at_eos: bool = True,
    dtype: Dtype = "q8",
) -> str:
    """The text generated after ``prompt`` (the prompt itself not included)."""
    steps = generate_steps(
        prompt,
        model_dir,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
        truncate=truncate,
        stop_at_eos=stop_at_eos,
        dtype=dtype,
    )
    return "".join(step.text for step in steps)


async def stream_generate(
    prompt: str,
    model_dir: str | Path,
    max_new_tokens: int = 32,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | None = None,
    truncate: bool = False,
    stop_at_eos: bool = True,
    dtype: Dtype = "q8",
) -> AsyncIterator[GenerationStep]:
    """:func:`generate_steps` as an async iterator: each token is one awaited model call.

    Cancelling the consuming task (or leaving the ``async for``) stops
    generation before the next token.
    """
    steps = await asyncio.to_thread(
        generate_steps,
        prompt,
        model_dir,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
        truncate=truncate,
        stop_at_eos=stop_at_eos,
        dtype=dtype,
    )
    done = object()
    in_thread = False
    try:
        while True:
            in_thread = True
            step = await asyncio.to_thread(next, steps, done)
            in_thread = False
            if step is done:
                break
            yield step  # type: ignore[misc]
    finally:
        # Cancelled mid-token, the worker thread is still inside next(): closing
        # now would raise "generator already executing". It finishes that one
        # token and the dropped generator is collected.
        if not in_thread:
            steps.close()


async def agenerate(
    prompt: str,
    model_dir: str | Path,
    max_new_tokens: int = 32,
    *,
    on_token: Callable[[GenerationStep], Awaitable[None] | None] | None = None,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int | None = None,
    truncate: bool = False,
    stop_at_eos: bool = True,
    dtype: Dtype = "q8",
) -> str:
    """:func:`generate` without blocking the event loop; ``on_token`` sees every step.

    ``on_token`` may be a plain or an async function (report progress there);
    cancel the awaiting task to abort between tokens.
    """
    pieces: list[str] = []
    async for step in stream_generate(
        prompt,
        model_dir,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
        truncate=truncate,
        stop_at_eos=stop_at_eos,
        dtype=dtype,
    ):
        pieces.append(step.text)
        if on_token is not None:
            result = on_token(step)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
    return "".join(pieces)


# -- extractive helpers ---------------------------------------------------------------


def summarize(
    text: str, model_dir: str | Path, n: int = 3, *, truncate: bool = False, dtype: Dtype = "q8"
) -> str:
    """The ``n`` most central sentences of ``text``, in their original order.

    Central: highest mean cosine similarity to all the text's sentences
    (``taskloom.ai.extractive``, as in the page). No registry package ships a
    summarisation model; this extractive summary runs on the embedding model.
    """
    _check_text(text, "the text")
    plan = Summary.of(text, n)
    return plan.pick(_embed_plan(plan.texts, model_dir, truncate, dtype))


def answer(
    question: str,
    context: str,
    model_dir: str | Path,
    *,
    truncate: bool = False,
    dtype: Dtype = "q8",
) -> Answer:
    """The sentence of ``context`` most similar to ``question`` (extractive QA).

    No registry package ships a question-answering model; this runs on the
    embedding model, so it finds the sentence that talks about the question,
    not a span that answers it.
    """
    _check_text(question, "the question")
    _check_text(context, "the context")
    plan = AnswerSearch.of(question, context)
    return plan.pick(_embed_plan(plan.texts, model_dir, truncate, dtype))


def _embed_plan(texts: list[str], model_dir: str | Path, truncate: bool,
                dtype: Dtype) -> list[list[float]]:
    return embed(texts, model_dir, truncate=truncate, dtype=dtype) if texts else []
