"""Embedding throughput of taskloom.ai.onnx_local beside raw onnxruntime, same model, same run.

    .venv/bin/python scripts/bench/onnx_local.py [--rounds 30] [--threads N]

Baseline: what a user writes by hand: tokenizers encode_batch with padding,
one InferenceSession.run, numpy mean pooling and L2 norm. Measured: the same
through embed(), which adds input checks, length sorting, padding per batch
and list output. Prints texts/s for one text and for batches of 32, and the
ratio (taskloom time / raw time; 1.00 = no overhead). Also greedy generation
tokens/s on glassllm. Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from _models import build  # noqa: E402

from taskloom.ai import onnx_local  # noqa: E402

TEXTS = [
    "A man is eating food.",
    "The new movie is awesome, and the soundtrack is even better than the trailer suggested.",
    "Stock markets fell sharply on Monday after the central bank's announcement.",
    "How do I bake bread at home without a bread machine?",
] * 8  # 32 texts of mixed length


def raw_embedder(model_dir: Path, threads: int | None):
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        str(model_dir / "onnx" / "model_quantized.onnx"),
        options,
        providers=["CPUExecutionProvider"],
    )
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return embed


def median_seconds(call, rounds: int) -> float:
    return paired_medians([call], rounds)[0]


def paired_medians(calls, rounds: int) -> list[float]:
    """Median seconds of each call, taking turns so that machine load hits all alike."""
    for call in calls:
        call()  # warm up
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, spent in zip(calls, times, strict=True):
            start = time.perf_counter()
            call()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="onnxruntime intra-op threads for the raw baseline (default: ORT's)",
    )
    args = parser.parse_args()
    folders = build()
    minilm, glassllm = folders["all-MiniLM-L6-v2"], folders["glassllm"]
    raw = raw_embedder(minilm, args.threads)
    onnx_local.load_model(minilm)  # load outside the timing, as raw's session is

    gap = np.abs(np.array(onnx_local.embed(TEXTS, minilm)) - raw(TEXTS)).max()
    print(f"all-MiniLM-L6-v2 int8, max |taskloom - raw| = {gap:.1e}")
    print(f"{'case':<14}{'raw texts/s':>14}{'taskloom texts/s':>18}{'ratio':>8}")
    for label, texts in (("1 text", TEXTS[:1]), ("batch of 32", TEXTS)):
        raw_s, ours_s = paired_medians(
            [lambda t=texts: raw(t), lambda t=texts: onnx_local.embed(t, minilm)], args.rounds
        )
        print(
            f"{label:<14}{len(texts) / raw_s:>14.1f}{len(texts) / ours_s:>18.1f}"
            f"{ours_s / raw_s:>8.2f}"
        )

    for dtype in ("fp32", "q8"):
        onnx_local.load_model(glassllm, dtype=dtype)
        seconds = median_seconds(
            lambda d=dtype: onnx_local.generate("Alice was beginning to", glassllm, 64, dtype=d),
            max(3, args.rounds // 5),
        )
        print(f"glassllm {dtype}: greedy generation {64 / seconds:.0f} tokens/s (64 tokens)")


if __name__ == "__main__":
    main()
