"""Embedding throughput through a taskloom TextEmbedding task beside raw onnxruntime.

    .venv/bin/python scripts/bench/ai_tasks.py [--rounds 15]

Baseline: what a user writes by hand on the same model folder — tokenizers
encode_batch with padding, one InferenceSession.run, numpy mean pooling and
L2 norm — called directly. Measured: a one-task graph run by
TaskGraphRunner, with the text(s) as the TextEmbedding input (32 texts:
array expansion, 32 jobs on the in-process ``ai:onnx`` queue, merged into
one batch by the provider). Each round's texts carry the round number, so
that no job is replayed by the queue's de-duplication; the baseline embeds
the same texts. Rounds alternate between baseline and taskloom. Prints
texts/s and the ratio (taskloom time / raw time; 1.00 = no overhead).
Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
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

from taskloom.ai import TextEmbedding, catalog, onnx_local, stop_in_process_workers  # noqa: E402
from taskloom.graph import TaskGraph  # noqa: E402
from taskloom.runner import TaskGraphRunner  # noqa: E402

MODEL = "onnx:all-MiniLM-L6-v2:q8"
# 32 distinct texts of mixed length (equal texts would share one job: the queue de-duplicates).
TEXTS = [
    f"{text} (note {i})"
    for i, text in enumerate([
        "A man is eating food.",
        "The new movie is awesome, and the soundtrack is even better than the trailer suggested.",
        "Stock markets fell sharply on Monday after the central bank's announcement.",
        "How do I bake bread at home without a bread machine?",
    ] * 8)
]


def raw_embedder(model_dir: Path):
    session = onnxruntime.InferenceSession(
        str(model_dir / "onnx" / "model_quantized.onnx"), providers=["CPUExecutionProvider"])
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


async def through_taskloom(texts: list[str]) -> tuple[float, list]:
    """Seconds for one graph run embedding ``texts``, and its vectors."""
    graph = TaskGraph()
    graph.add_task(TextEmbedding("embed", {"model": MODEL,
                                           "text": texts if len(texts) > 1 else texts[0]}))
    start = time.perf_counter()
    result = await TaskGraphRunner(graph).run()
    return time.perf_counter() - start, result["embed"]["vector"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    minilm = build()["all-MiniLM-L6-v2"]
    catalog.models_dir = minilm.parent
    raw = raw_embedder(minilm)
    onnx_local.load_model(minilm)  # load outside the timing, as raw's session is

    _, vectors = await through_taskloom(TEXTS)  # warm-up (and a correctness check)
    gap = np.abs(np.array(vectors) - raw(TEXTS)).max()
    print(f"all-MiniLM-L6-v2 int8 through TextEmbedding, max |taskloom - raw| = {gap:.1e}")
    print(f"{'case':<14}{'raw texts/s':>14}{'taskloom texts/s':>18}{'ratio':>8}")
    for label, size in (("1 text", 1), ("batch of 32", 32)):
        raw(TEXTS[:size])
        raw_times, ours_times = [], []
        for round_number in range(args.rounds):
            texts = [f"{text} (round {round_number})" for text in TEXTS[:size]]
            start = time.perf_counter()
            raw(texts)
            raw_times.append(time.perf_counter() - start)
            ours_times.append((await through_taskloom(texts))[0])
        raw_s, ours_s = statistics.median(raw_times), statistics.median(ours_times)
        print(f"{label:<14}{size / raw_s:>14.1f}{size / ours_s:>18.1f}{ours_s / raw_s:>8.2f}")
    await stop_in_process_workers()


if __name__ == "__main__":
    asyncio.run(main())
