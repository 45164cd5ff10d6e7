"""The page's start-up snapshot: Pyodide's memory after importing taskloom, made in Node.

The page (web/engine-snapshot.mjs) restores it instead of starting Python,
unpacking the wheels and importing taskloom and its dependencies, and falls
back to a normal start when it is missing or does not fit. Made with the
site's own runtime and wheels (make_snapshot.mjs), so it matches the
pyodide.asm.wasm build it is served with; cached by the sha256 of everything
it is made from (the taskloom wheel changes with every edit of core/, so a
changed core means a new snapshot).

One gzipped file: the heap (about 45 MB, mostly zeros) followed by the files
the wheels installed (about 15 MB), 16 MB gzipped; the metadata beside it
lists the files and where pydantic_core's side module sits. Making it takes
5-9 s on a 2-core machine. Its bytes are not identical from build to build
(the heap's layout varies a little between Node runs); what it holds is.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .downloads import sha256_of
from .recipe import BuildError

HERE = Path(__file__).parent
SNAPSHOT = "taskloom-snapshot.bin.gz"
METADATA = "taskloom-snapshot.json"
#: What the page imports at start-up (web/engine.py, web/engine-worker.mjs), and what
#: its first calls import (the run history, the job queues, the Packages panel).
MODULES = (
    "taskloom.browser.engine", "taskloom.browser.idb", "taskloom.browser.indexeddb",
    "taskloom.browser.indexeddb_queue", "taskloom.browser.page_queue",
    "taskloom.browser.web_locks", "taskloom.browser.packages", "taskloom.browser.cloud",
    "taskloom.tasks.documents", "taskloom.tasks.sql", "taskloom.tasks.vectors",
    "pydantic.type_adapter",
)


def _inputs_key(runtime_dir: Path) -> str:
    digest = hashlib.sha256()
    files = [HERE / "make_snapshot.mjs", *sorted(runtime_dir.iterdir())]
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(sha256_of(path).encode())
    digest.update(" ".join(MODULES).encode())
    return digest.hexdigest()[:24]


def add_snapshot(runtime_dir: Path, cache: Path, log=print) -> None:
    """Writes the snapshot and its metadata into ``runtime_dir`` (the site's pyodide/)."""
    cached = cache / "snapshot" / _inputs_key(runtime_dir)
    if not (cached / METADATA).exists():
        if shutil.which("node") is None:
            raise BuildError("the start-up snapshot needs Node.js (`apt-get install nodejs`)")
        started = time.monotonic()
        cached.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=cached.parent))
        try:
            raw, metadata = scratch / "snapshot.bin", scratch / METADATA
            result = subprocess.run(
                ["node", str(HERE / "make_snapshot.mjs"), str(runtime_dir), str(raw),
                 str(metadata), *MODULES],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                # The usual cause: a module that keeps a JavaScript object made at import
                # time (a create_proxy, say), which a memory snapshot cannot hold.
                raise BuildError("making the start-up snapshot failed (an import-time "
                                 "JavaScript object?):\n" + result.stderr[-3000:])
            with raw.open("rb") as source, gzip.GzipFile(
                    scratch / SNAPSHOT, "wb", compresslevel=6, mtime=0) as target:
                shutil.copyfileobj(source, target, 1 << 20)
            raw.unlink()
            shutil.rmtree(cached, ignore_errors=True)
            scratch.rename(cached)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log(f"start-up snapshot made in {time.monotonic() - started:.1f} s "
            f"({(cached / SNAPSHOT).stat().st_size / 1e6:.1f} MB gzipped)")
    else:
        cached.touch()  # recently used: kept by prune_cache
    for name in (SNAPSHOT, METADATA):
        shutil.copy(cached / name, runtime_dir / name)
