"""The ``taskloom`` command.

    taskloom run graph.json [--import MODULE]... [--output out.json] [--store URL]
    taskloom runs [--status STATUS]
    taskloom resume RUN_ID [--import MODULE]...
    taskloom worker --store postgresql://... --queue NAME [--concurrency N]
                    [--lease SECONDS] [--import MODULE]...
    taskloom types [--import MODULE]...
    taskloom code graph.json [--import MODULE]...     (prints Workflow code)
    taskloom graph code.py [--import MODULE]...       (prints graph JSON; runs no code)

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
    RecordNotFoundError,
    RunOwnedError,
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
    run.add_argument("--allow-code", action="store_true",
                     help="run the JavaScript and Lambda tasks the graph holds (its code)")
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
    resume.add_argument("--take-over", action="store_true",
                        help="resume even though another process holds the run's owner lease "
                             "(only if you know that process is dead)")
    resume.set_defaults(handler=_cmd_resume)

    worker = with_store(with_imports(sub.add_parser(
        "worker", help="run workers for a job queue until stopped (SIGINT/SIGTERM)")))
    worker.add_argument("--queue", required=True, help="the queue to serve")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs at a time")
    worker.add_argument("--lease", type=float, default=30.0, metavar="SECONDS",
                        help="how long a claimed job stays this worker's without a "
                             "heartbeat; a killed worker's jobs are taken over after it "
                             "(default: 30)")
    worker.set_defaults(handler=_cmd_worker)

    types = with_imports(sub.add_parser("types", help="list the registered task types"))
    types.add_argument("--json", action="store_true", help="with port schemas, as JSON")
    types.set_defaults(handler=_cmd_types)
    _add_codegen_commands(sub, with_imports)
    return parser


def _load_graph(source: str):
    from .graph import TaskGraph

    # Bytes, not text: TaskGraph decodes them and names a bad byte's offset.
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    if data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
        return TaskGraph.from_dependency_json(data)
    return TaskGraph.from_json(data)


def default_store_url(*, create: bool = True) -> str:
    """``$TASKLOOM_STORE``, else a SQLite file in the user's data directory."""
    url = os.environ.get("TASKLOOM_STORE")
    if url:
        return url
    try:
        from platformdirs import user_data_dir

        folder = Path(user_data_dir("taskloom", appauthor=False))
    except ImportError:
        folder = Path.home() / ".local" / "share" / "taskloom"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    from .storage import sqlite_url

    return sqlite_url(folder / "taskloom.db")


def _open_store(args: argparse.Namespace):
    from .storage import open_store

    if getattr(args, "no_store", False):
        return None
    return open_store(args.store or default_store_url())


class _BadInput(Exception):
    """Raised inside a command to end it with exit status 2 and this message."""


class _NoStoreYet(Exception):
    """The default store has not been created: nothing was ever recorded."""


def _open_existing_store(args: argparse.Namespace):
    """The store of a command that only reads what is recorded: ``runs``, ``resume``.

    Opening a SQLite or file store creates it; a mistyped path must say so
    instead of leaving a new empty database (and its folders) behind.
    """
    from .storage import local_path, open_store

    explicit = args.store or os.environ.get("TASKLOOM_STORE")
    url = explicit or default_store_url(create=False)
    if url.split(":", 1)[0] in ("sqlite", "file"):
        path = local_path(url)
        if not path.exists():
            if not explicit:
                raise _NoStoreYet
            where = "--store" if args.store else "$TASKLOOM_STORE"
            raise _BadInput(f"there is no store at {path}, so nothing was recorded there; "
                            f"check the path given by {where}")
    return open_store(url)


def _cmd_run(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401  (registers the built-in task types)

    try:
        graph = _load_graph(args.graph)
    except OSError as exc:
        return _bad_input(f"cannot read {args.graph}: {exc.strerror or exc}")
    except TaskloomError as exc:  # every way a graph can be wrong
        return _bad_input(f"{args.graph}: {exc}")
    refused = _refuse_code(args, graph)
    if refused is not None:
        return refused
    try:
        store = _open_store(args)
    except TaskloomError as exc:
        return _bad_input(str(exc))

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

    if not args.run_id or "/" in args.run_id:  # the rule of storage/runs.py's run ids
        return _bad_input(f"{args.run_id!r} is not a run id: run ids are non-empty and "
                          "have no '/'; `taskloom runs` lists them")
    try:
        store = _open_existing_store(args)
    except _NoStoreYet:
        return _bad_input(f"no run {args.run_id!r}: nothing has been recorded yet")
    except _BadInput as exc:
        return _bad_input(f"no run {args.run_id!r}: {exc}")
    except StorageError as exc:
        return _bad_input(str(exc))
    holder: dict[str, Any] = {}

    async def go():
        async with store:
            try:  # claims the run's owner lease: a run another process runs is refused
                runner = await TaskGraphRunner.for_resume(
                    args.run_id, store=store, take_over=args.take_over,
                    concurrency=args.concurrency, continue_on_error=args.continue_on_error)
            except (RecordNotFoundError, RunOwnedError, StorageError):
                raise
            except TaskloomError as exc:  # e.g. a type whose module was not --import-ed
                raise _BadInput(f"run {args.run_id}: {exc}") from exc
            holder["display"] = _attach_display(args, runner)
            done = runner.resume_outputs or {}
            print(f"resuming run {args.run_id}: {len(done)} of {len(runner.graph)} tasks "
                  "already done", file=sys.stderr)
            with holder["display"] or _nothing():
                return await runner.run()

    try:
        return _report(args, asyncio.run(go()), 0)
    except (RecordNotFoundError, RunOwnedError) as exc:
        return _bad_input(str(exc))
    except _BadInput as exc:
        return _bad_input(str(exc))
    except TaskloomError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return _report(args, exc.result, 1) if exc.result is not None else 1


def _cmd_runs(args: argparse.Namespace) -> int:
    try:
        store = _open_existing_store(args)
    except _NoStoreYet:
        print("no runs recorded", file=sys.stderr)
        return 0
    except (_BadInput, StorageError) as exc:
        return _bad_input(str(exc))

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
        return _bad_input("--concurrency must be at least 1")
    if not args.lease > 0 or args.lease == float("inf"):
        return _bad_input(f"--lease must be a positive number of seconds, not {args.lease}")
    try:
        stats = asyncio.run(run_worker(url, args.queue, args.concurrency, lease=args.lease))
    except (StorageError, ValueError) as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    print(f"worker stopped: {stats}", file=sys.stderr)
    return 0


def _attach_display(args: argparse.Namespace, runner: Any) -> Any:
    if args.quiet:
        return None
    from .cli_display import ProgressDisplay

    # A resumed run starts with its finished tasks counted as done.
    done = getattr(runner, "resume_outputs", None) or {}
    display = ProgressDisplay(runner.graph.task_ids(), already_done=done)
    display.attach(runner.events)
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


def _refuse_code(args: argparse.Namespace, graph: Any) -> int | None:
    """Exit status 2 when a graph from a file holds code and --allow-code was not given."""
    from .errors import CodeNotAllowedError
    from .tasks.javascript import code_tasks

    found = code_tasks(graph)
    if not found or args.allow_code:
        return None
    return _bad_input(str(CodeNotAllowedError(
        f"{args.graph} holds code that would run here (task {', '.join(map(repr, found))}); "
        "read it, then run again with --allow-code")))


def _bad_input(message: str) -> int:
    """Exit status 2 with the message on one line of stderr."""
    print(f"taskloom: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _add_codegen_commands(sub: Any, with_imports: Any) -> None:
    code = with_imports(sub.add_parser("code", help="print the Workflow code of a graph"))
    code.add_argument("graph", help="graph JSON file (to_json or dependency JSON); - for stdin")
    code.set_defaults(handler=_cmd_code)
    graph = with_imports(sub.add_parser(
        "graph", help="print the graph JSON that Workflow code builds, without running it"))
    graph.add_argument("code", help="a Python file of Workflow code; - for stdin")
    graph.set_defaults(handler=_cmd_graph)


def _cmd_code(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401  (the built-in task types)

    from .codegen import to_code

    try:
        print(to_code(_load_graph(args.graph)), end="")
    except (OSError, TaskloomError) as exc:
        print(f"taskloom: {args.graph}: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401  (the built-in task types)

    from .codegen import from_code

    try:
        text = sys.stdin.read() if args.code == "-" else \
            Path(args.code).read_text(encoding="utf-8")
        graph = from_code(text)
    except (OSError, UnicodeDecodeError, TaskloomError) as exc:
        print(f"taskloom: {args.code}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(graph.to_json_string())
    return 0


def _cmd_types(args: argparse.Namespace) -> int:
    import taskloom  # noqa: F401

    from .registry import registry

    if args.json:
        print(json.dumps(registry.describe(), indent=2))
        return 0
    for item in registry.describe():
        description = " ".join(item["description"].split())  # one row per type
        print(f"{item['type']:<24} {item['category']:<12} {description}")
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
