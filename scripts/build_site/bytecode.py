"""Wheels with Python 3.14 bytecode, made by the pinned Pyodide under Node.

Compiling at build time instead of at every start-up cuts the imports of
taskloom and its dependencies in the browser by about two thirds. Results
are cached by the input wheel's sha256 and the runtime's version.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from .downloads import sha256_of
from .recipe import BuildError

HERE = Path(__file__).parent


def compile_wheels(wheels: list[Path], runtime_dir: Path, runtime_version: str,
                   cache: Path, keep_sources: set[str]) -> list[Path]:
    """The compiled counterpart of each wheel (same file name), from cache when possible.

    Wheels whose distribution name is in ``keep_sources`` keep their .py files
    (their tracebacks show source lines); the others ship bytecode only, as
    Pyodide's own wheels do, which makes them smaller to fetch and unpack.
    """
    outputs, todo = [], []
    tool = hashlib.sha256(b"".join(
        (HERE / name).read_bytes() for name in ("compile_wheels.mjs", "compile_wheel.py")
    )).hexdigest()[:8]
    for wheel in wheels:
        keep = wheel.name.split("-", 1)[0].lower() in keep_sources
        key = f"{runtime_version}-{tool}-{'src' if keep else 'pyc'}-{sha256_of(wheel)[:24]}"
        output = cache / "compiled" / key / wheel.name
        outputs.append(output)
        if output.exists():
            output.parent.touch()  # recently used: kept by prune_cache
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            todo.append(f"{wheel}={output}.partial={int(keep)}")
    if todo:
        if shutil.which("node") is None:
            raise BuildError("compiling wheels needs Node.js (`apt-get install nodejs npm`)")
        result = subprocess.run(
            ["node", str(HERE / "compile_wheels.mjs"), str(runtime_dir),
             str(HERE / "compile_wheel.py"), *todo],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"compiling wheels with Pyodide failed:\n{result.stderr[-3000:]}")
        for pair in todo:
            partial = Path(pair.split("=")[1])
            partial.rename(partial.with_name(partial.name.removesuffix(".partial")))
    return outputs


def prune_cache(folder: Path, keep: int) -> None:
    """Drops all but the ``keep`` most recently used entries of a cache folder.

    The taskloom wheel changes with every edit of core/, so without this its
    builds and their compiled copies would pile up.
    """
    if not folder.exists():
        return
    entries = sorted(folder.iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
