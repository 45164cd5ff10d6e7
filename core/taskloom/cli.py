"""The ``taskloom`` command.

    taskloom run graph.json [--import MODULE]... [--output out.json] [--store URL]
    taskloom runs [--status STATUS]
    taskloom resume RUN_ID [--import MODULE]...
    taskloom worker --store postgresql://... --queue NAME [--concurrency N] [--import MODULE]...
    taskloom types [--import MODULE]...

``--import`` is the only way a CLI run executes user code: graph JSON names
task types, and only types registered by imported modules can be loaded.
Runs are recorded in a store: ``--store URL``, else ``$TASKLOOM_STORE``, else
a SQLite file in the user's data directory; ``--no-store`` records nothing.
Exit status: 0 done, 1 a task failed or the run was aborted, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import (
    GraphError,
    RecordNotFoundError,
    RegistryError,
    SerializationError,
    StorageError,
    TaskloomError,
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        for module in getattr(args, "imports", None) or []:
            importlib.import_module(module)
    except ImportError as exc:
        print(f"taskloom: cannot import {exc.name or exc}: {exc}", file=sys.stderr)
        return 2
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskloom", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")

    def with_imports(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                       help="import MODULE first so that its task types are registered "
                            "(repeatable)")
        return p

    def with_store(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--store", metavar="URL", default=None,
                       help="storage URL for run records and cached outputs (default: "
                            "$TASKLOOM_STORE, else a SQLite file in the user data directory)")
        return p

    run = with_store(with_imports(sub.add_parser("run", help="run a graph from a JSON file")))
    run.add_argument("--no-store", action="store_true",
                     help="record nothing and cache nothing (the run cannot be resumed)")
    run.add_argument("graph", help="graph JSON file (to_json or dependency JSON); - for stdin")
    run.add_argument("-o", "--output", help="write every task's output here as JSON "
                                            "(default: print the leaves' outputs)")
    run.add_argument("--concurrency", type=int, default=16)
    run.add_argument("--continue-on-error", action="store_true",
                     help="let independent branches finish when a task fails")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=_cmd_run)

    runs = with_store(sub.add_parser("runs", help="list recorded runs with their status"))
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_cmd_runs)

    resume = with_store(with_imports(sub.add_parser(
        "resume", help="finish an interrupted run without re-running completed tasks")))
    resume.add_argument("run_id")
    resume.add_argument("-o", "--output", help="write every task's output here as JSON")
    resume.add_argument("--concurrency", type=int, default=16)
    resume.add_argument("--continue-on-error", action="store_true")
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(handler=_cmd_resume)

    worker = with_store(with_imports(sub.add_parser(
        "worker", help="run workers for a job queue until stopped (SIGINT/SIGTERM)")))
    worker.add_argument("--queue", required=True, help="the queue to serve")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs at a time")
    worker.set_defaults(handler=_cmd_worker)

    types = with_imports(sub.add_parser("types", help="list the registered task types"))
    types.add_argument("--json", action="store_true", help="with port schemas, as JSON")
    types.set_defaults(handler=_cmd_types)
    return parser


def _load_graph(source: str):
    from .graph import TaskGraph

    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return TaskGraph.from_dependency_json(text)
    return TaskGraph.from_json(text)


def default_store_url() -> str:
    """``$TASKLOOM_STORE``, else a SQLite file in the user's data directory."""
    url = os.environ.get("TASKLOOM_STORE")
    if url:
        return url
    try:
        from platformdirs import user_data_dir

        folder = Path(user_data_dir("taskloom", appauthor=False))
    except ImportError:
        folder = Path.home() / ".local" / "share" / "taskloom"
    folder.mkdir(parents=True, exist_ok=True)
    from .storage import sqlite_url

    return sqlite_url(folder / "taskloom.db")


def _open_store(args: argparse.Namespace):
    from .storage import open_store

    if getattr(args, "no_store", False):
        return None
    return open_store(args.store or default_store_url())


def _cmd_run(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401  (registers the built-in task types)

    try:
        graph = _load_graph(args.graph)
        store = _open_store(args)
    except OSError as exc:
        print(f"taskloom: cannot read {args.graph}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (SerializationError, GraphError, RegistryError, StorageError) as exc:
        print(f"taskloom: {args.graph}: {exc}", file=sys.stderr)
        return 2

    async def go(runner):
        if store is None:
            return await runner.run()
        async with store:
            return await runner.run()

    from .runner import TaskGraphRunner

    runner = TaskGraphRunner(graph, concurrency=args.concurrency, store=store,
                             continue_on_error=args.continue_on_error)
    return _execute(args, runner, go(runner))


def _cmd_resume(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401

    from .runner import TaskGraphRunner

    try:
        store = _open_store(args)
    except StorageError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    holder: dict[str, Any] = {}

    async def go():
        async with store:
            record = await store.runs.get(args.run_id)
            from .graph import TaskGraph

            graph = TaskGraph.from_json(record.graph)
            runner = TaskGraphRunner(graph, run_id=args.run_id, store=store,
                                     concurrency=args.concurrency,
                                     continue_on_error=args.continue_on_error)
            holder["display"] = _attach_display(args, runner)
            done = record.completed_outputs()
            print(f"resuming run {args.run_id}: {len(done)} of {len(graph)} tasks already "
                  "done", file=sys.stderr)
            with holder["display"] or _nothing():
                return await runner.run(outputs=done)

    try:
        return _report(args, asyncio.run(go()), 0)
    except RecordNotFoundError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    except (SerializationError, GraphError, RegistryError) as exc:
        print(f"taskloom: run {args.run_id}: {exc}", file=sys.stderr)
        return 2
    except TaskloomError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return _report(args, exc.result, 1) if exc.result is not None else 1


def _cmd_runs(args: argparse.Namespace) -> int:
    try:
        store = _open_store(args)
    except StorageError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2

    async def go():
        async with store:
            return await store.runs.list(status=args.status)

    try:
        runs = asyncio.run(go())
    except (StorageError, ValueError) as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return 0
    for run in runs:
        when = run.created_at.strftime("%Y-%m-%d %H:%M:%S")
        error = f"  {run.error}" if run.error else ""
        print(f"{run.run_id}  {run.status:<10}  {when}{error}")
    if not runs:
        print("no runs recorded", file=sys.stderr)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import logging

    import taskloom  # noqa: F401  (registers the built-in task types)

    from .queue.serve import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    url = args.store or default_store_url()
    if args.concurrency < 1:
        print("taskloom: --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        stats = asyncio.run(run_worker(url, args.queue, args.concurrency))
    except (StorageError, ValueError) as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    print(f"worker stopped: {stats}", file=sys.stderr)
    return 0


def _attach_display(args: argparse.Namespace, runner: Any) -> Any:
    if args.quiet:
        return None
    display = _Progress(runner.graph)
    runner.events.subscribe(display.on_event)
    return display


def _execute(args: argparse.Namespace, runner: Any, coro: Any) -> int:
    display = _attach_display(args, runner)
    try:
        with display or _nothing():
            result = asyncio.run(coro)
    except TaskloomError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return _report(args, exc.result, 1) if exc.result is not None else 1
    except KeyboardInterrupt:
        print(f"taskloom: interrupted; `taskloom resume {runner.run_id}` finishes the run",
              file=sys.stderr)
        return 130
    return _report(args, result, 0)


def _report(args: argparse.Namespace, result: Any, code: int) -> int:
    if result.errors and code == 0:
        code = 1
        for task_id, error in result.errors.items():
            print(f"taskloom: {task_id}: {error}", file=sys.stderr)
    payload: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "outputs": result.outputs if args.output else result.leaves(),
        "statuses": {k: str(v) for k, v in result.statuses.items()},
    }
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.output} ({result.summary()})", file=sys.stderr)
    else:
        print(text)
    return code


def _cmd_types(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401

    from .registry import registry

    if args.json:
        print(json.dumps(registry.describe(), indent=2))
        return 0
    for item in registry.describe():
        print(f"{item['type']:<24} {item['category']:<12} {item['description']}")
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _Progress:
    """Per-task progress on stderr: rich bars when rich is installed, lines otherwise."""

    def __init__(self, graph: Any):
        self.graph = graph
        self.rich = None
        self.bars: dict[str, Any] = {}
        try:
            from rich.progress import BarColumn, Progress, TextColumn

            self.rich = Progress(TextColumn("{task.description:<32}"), BarColumn(),
                                 TextColumn("{task.fields[status]}"), transient=False,
                                 console=_stderr_console())
        except ImportError:
            pass

    def __enter__(self) -> _Progress:
        if self.rich is not None:
            self.rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        kind = str(event.kind)
        if not kind.startswith("task_") or event.task_id is None:
            return
        status = {"task_start": "running", "task_progress": "running",
                  "task_complete": "done", "task_cache_hit": "cached",
                  "task_error": "failed", "task_abort": "aborted",
                  "task_skipped": "skipped"}[kind]
        if self.rich is None:
            if kind != "task_progress":
                print(f"[{status}] {event.task_id}{': ' + event.error if event.error else ''}",
                      file=sys.stderr)
            return
        bar = self.bars.get(event.task_id)
        if bar is None:
            bar = self.rich.add_task(event.task_id, total=1.0, status=status)
            self.bars[event.task_id] = bar
        completed = 1.0 if status in ("done", "cached") else event.progress
        self.rich.update(bar, status=status,
                         **({"completed": completed} if completed is not None else {}))


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
