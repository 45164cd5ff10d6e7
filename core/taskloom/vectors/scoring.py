"""Cosine top-k over many vectors: numpy when it is installed, plain Python otherwise."""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from typing import Any


def top_k(query: Sequence[float], rows: Any, k: int) -> list[tuple[int, float]]:
    """``(row index, cosine)`` of the ``k`` rows nearest ``query``, best first.

    ``rows`` is a 2-D numpy array or a sequence of sequences; a zero vector scores 0.
    """
    try:
        import numpy as np
    except ImportError:
        return _top_k_python(query, rows, k)
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.size == 0:
        return []
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    dots = matrix @ q
    scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]


def _top_k_python(query: Sequence[float], rows: Sequence[Sequence[float]],
                  k: int) -> list[tuple[int, float]]:
    q_norm = math.sqrt(sum(x * x for x in query))
    scored = []
    for index, row in enumerate(rows):
        norm = math.sqrt(sum(x * x for x in row)) * q_norm
        score = sum(a * b for a, b in zip(row, query, strict=True)) / norm if norm else 0.0
        scored.append((score, -index))
    return [(-i, s) for s, i in heapq.nlargest(k, scored)]


def as_matrix(vectors: Sequence[Any]) -> Any:
    """Float32 ``array``s or their raw bytes (or float lists) as one 2-D numpy array; a list
    of float lists without numpy."""
    try:
        import numpy as np
    except ImportError:
        return [array("f", v).tolist() if isinstance(v, bytes) else list(v) for v in vectors]
    if vectors and isinstance(vectors[0], array | bytes):
        raw = b"".join(v if isinstance(v, bytes) else v.tobytes() for v in vectors)
        return np.frombuffer(raw, dtype=np.float32).reshape(len(vectors), -1)
    return np.asarray(vectors, dtype=np.float32)


def select_rows(rows: Any, indices: list[int]) -> Any:
    return rows[indices] if hasattr(rows, "shape") else [rows[i] for i in indices]
