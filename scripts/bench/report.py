"""The rows a benchmark reports, for ``scripts/bench/all`` and docs/benchmarks.md.

Every bench script prints its numbers for a person; given ``--json`` it prints
those to stderr instead and writes one JSON object to stdout:
``{"bench": name, "rows": [...], "notes": [...]}``. A row is one metric: what
was measured, the baseline measured beside it in the same run (or None), the
taskloom number, the unit, and the target in words.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any


class Report:
    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add(self, metric: str, taskloom: float, unit: str, *, baseline: float | None = None,
            baseline_name: str | None = None, target: str = "", ratio: float | None = None,
            ) -> None:
        if ratio is None and baseline:
            ratio = taskloom / baseline
        self.rows.append({"metric": metric, "baseline": baseline,
                          "baseline_name": baseline_name, "taskloom": taskloom, "unit": unit,
                          "ratio": ratio, "target": target})

    def note(self, text: str) -> None:
        self.notes.append(text)

    @contextlib.contextmanager
    def output(self, as_json: bool) -> Iterator[None]:
        """Run the benchmark body; with ``as_json`` its prints go to stderr."""
        if not as_json:
            yield
            return
        with contextlib.redirect_stdout(sys.stderr):
            yield
        json.dump({"bench": self.bench, "rows": self.rows, "notes": self.notes}, sys.stdout)
        sys.stdout.write("\n")
