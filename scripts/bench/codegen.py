"""Graph ↔ code on a 10,000-task graph: to_code and from_code, per task.

    .venv/bin/python scripts/bench/codegen.py [--n 10000] [--repeat 3]

The graph is chains of ten tasks that fork and meet again (fan-in into a list
input, edges from older tasks, renames), with defaults and metadata on every
task. The baseline, measured in the same run, is the JSON round trip
(to_json_string + from_json) of the same graph. Numbers only: nothing here
passes or fails.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pydantic import BaseModel
from report import Report

import taskloom as tl
from taskloom.codegen import from_code, to_code


class BenchText(tl.Task):
    class Input(BaseModel):
        text: str = ""
        n: int = 0

    class Output(BaseModel):
        text: str
        size: int


class BenchJoin(tl.Task):
    class Input(BaseModel):
        text: list[str]

    class Output(BaseModel):
        text: str


def build(n: int) -> tl.TaskGraph:
    graph = tl.TaskGraph(metadata={"ui": {"zoom": 1}})
    previous = None
    for i in range(n):
        if i % 10 == 9:
            task: tl.Task = BenchJoin(id=f"t{i}")
        else:
            task = BenchText(id=f"t{i}", defaults={"n": i, "text": f"é{i}"})
        task.metadata = {"ui": {"x": i % 100 * 40, "y": i // 100 * 40}}
        graph.add_task(task)
        if previous is not None:
            graph.connect(previous, "text", task.id, "text")
        if i % 10 == 9:  # fan-in from two older tasks of the chain, newest first
            graph.connect(f"t{i - 3}", "text", task.id, "text")
            graph.connect(f"t{i - 6}", "text", task.id, "text")
        previous = task.id
    return graph


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    report = Report("codegen")
    with report.output(args.json):
        measure(args, report)


def measure(args: argparse.Namespace, report: Report) -> None:
    graph = build(args.n)

    to_json_s, text = timed(graph.to_json_string, args.repeat)
    from_json_s, _ = timed(lambda: tl.TaskGraph.from_json(text), args.repeat)
    to_code_s, code = timed(lambda: to_code(graph), args.repeat)
    from_code_s, again = timed(lambda: from_code(code), args.repeat)
    assert again == graph, "from_code(to_code(g)) != g"

    per = 1e6 / args.n
    json_total = to_json_s + from_json_s
    code_total = to_code_s + from_code_s
    print(f"{args.n:,} tasks, {len(graph.dataflows):,} dataflows; "
          f"code {len(code.splitlines()):,} lines, {len(code) / 1e6:.2f} MB")
    print(f"to_code       {to_code_s * per:8.1f} µs/task")
    print(f"from_code     {from_code_s * per:8.1f} µs/task")
    print(f"code total    {code_total * per:8.1f} µs/task")
    print(f"JSON total    {json_total * per:8.1f} µs/task (to_json_string + from_json)")
    print(f"ratio         {code_total / json_total:8.2f}x the JSON round trip")
    report.add(f"graph → code → graph, {args.n:,} tasks", code_total * per, "µs/task",
               baseline=json_total * per, baseline_name="JSON round trip (to_json_string + "
               "from_json)")


if __name__ == "__main__":
    main()
