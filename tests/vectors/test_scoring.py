"""The cosine top-k: numpy and the plain-Python fallback (for a Pyodide without numpy) agree."""

from __future__ import annotations

import random

import pytest

from taskloom.vectors.scoring import _top_k_python, top_k


def test_numpy_and_plain_python_rank_alike():
    rng = random.Random(3)
    rows = [[rng.gauss(0, 1) for _ in range(24)] for _ in range(500)]
    rows[17] = [0.0] * 24  # a zero row scores 0, not NaN
    query = [rng.gauss(0, 1) for _ in range(24)]
    fast, plain = top_k(query, rows, 20), _top_k_python(query, rows, 20)
    assert [i for i, _ in fast] == [i for i, _ in plain]
    assert [s for _, s in fast] == pytest.approx([s for _, s in plain], abs=1e-5)
    scores = [s for _, s in fast]
    assert scores == sorted(scores, reverse=True)
    assert dict(_top_k_python(query, rows, 500))[17] == 0.0


def test_k_beyond_the_rows_and_no_rows():
    assert [i for i, _ in top_k([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], 5)] == [1, 0]
    assert top_k([1.0, 0.0], [], 3) == []
    assert _top_k_python([1.0, 0.0], [], 3) == []
