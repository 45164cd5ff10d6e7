"""Assembles dist/site/ from the recipe, the web/ sources and the taskloom wheel.

Layout of the site:
    index.html, app.js, app.css, engine.py  (from web/; engine.py is the worker's entry)
    sw.js                                  the service worker, stamped with the site version
    site-manifest.json                     every file with its sha256 (the worker precaches it)
    pyscript/                              PyScript's bundle
    bundles/                               the page's npm libraries, bundled (bundles.py)
    pyodide/                               the runtime, the wheels and their pyodide-lock.json,
                                           and the start-up snapshot (snapshot.py)
    examples/                              the repository's examples/ (the gallery opens them)
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from . import bundles
from .bytecode import compile_wheels, prune_cache
from .downloads import fetch_npm, fetch_wheel, sha256_of
from .lockfile import write_lock
from .models import add_models, recipe_files
from .recipe import BuildError, Recipe, load_recipe
from .snapshot import add_snapshot

ROOT = Path(__file__).resolve().parents[2]
STAMP = ".build-stamp"
VERSION_PLACEHOLDER = "__TASKLOOM_SITE_VERSION__"


def _tree_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    )


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def taskloom_sources() -> list[Path]:
    sources = _tree_files(ROOT / "core" / "taskloom", ("*.py", "*.sql", "py.typed"))
    return [ROOT / "pyproject.toml", *sources]


def build_taskloom_wheel(cache: Path) -> Path:
    """Builds the taskloom wheel from a copy of the repo's sources.

    A copy, because setuptools writes a build/ folder next to pyproject.toml,
    and build/ here is the recipe. Wheels are cached by source fingerprint.
    """
    fingerprint = _fingerprint(taskloom_sources())[:16]
    out = cache / "taskloom-wheel" / fingerprint
    built = sorted(out.glob("taskloom-*.whl")) if out.exists() else []
    if built:
        out.touch()  # recently used: kept by prune_cache
        return built[0]
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        source = Path(scratch) / "src"
        shutil.copytree(ROOT / "core", source / "core",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        shutil.copy(ROOT / "pyproject.toml", source / "pyproject.toml")
        readme = ROOT / "README.md"
        (source / "README.md").write_text(readme.read_text() if readme.exists() else "taskloom\n")
        wheels = Path(scratch) / "wheels"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
             str(source)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"cannot build the taskloom wheel:\n{result.stderr[-3000:]}")
        (wheel,) = wheels.glob("taskloom-*.whl")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(wheel, out / wheel.name))


def _extract_npm(tarball: Path, dest: Path, files: list[str], strip: str) -> None:
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        for pattern in files:
            matched = [m for m in members
                       if fnmatch.fnmatch(m.name.removeprefix("package/"), pattern)]
            if not matched:
                raise BuildError(f"{tarball.name} has no file matching {pattern!r}")
            for member in matched:
                relative = member.name.removeprefix("package/").removeprefix(strip)
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as stream:
                    target.write_bytes(stream.read())


def _write_manifest(site: Path) -> str:
    files = {
        str(path.relative_to(site)): sha256_of(path)
        for path in sorted(site.rglob("*"))
        if path.is_file() and path.name not in {"sw.js", "site-manifest.json", STAMP}
    }
    version = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {"version": version, "files": files}
    (site / "site-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return version


def build_site(
    recipe_path: Path, site: Path, cache: Path, *, force: bool = False,
    compile_bytecode: bool = True, snapshot: bool | None = None, log=print,
) -> Path:
    """Builds the site; ``snapshot`` (default: as ``compile_bytecode``, both need Node.js)
    adds the start-up memory snapshot (snapshot.py)."""
    if snapshot is None:
        snapshot = compile_bytecode
    started = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    recipe: Recipe = load_recipe(recipe_path)
    inputs = [recipe_path, *taskloom_sources(), *_tree_files(ROOT / "web", ("*",)),
              *_tree_files(ROOT / "examples", ("*",)),
              *_tree_files(Path(__file__).parent, ("*.py", "*.mjs"))]
    inputs += recipe_files()  # the local models' recipe (build/models/)
    inputs += bundles.inputs()  # the npm libraries and their entries (build/npm/, web/bundles/)
    fingerprint = (_fingerprint(inputs) + ("" if compile_bytecode else "-source-only")
                   + ("" if snapshot else "-no-snapshot"))
    stamp = site / STAMP
    if not force and stamp.exists() and stamp.read_text().strip() == fingerprint:
        log(f"dist/site is up to date ({site})")
        return site

    tarballs = {p.name: fetch_npm(p, cache, recipe) for p in recipe.npm}
    wheel_files = [fetch_wheel(w, cache, recipe) for w in recipe.wheels]
    wheel_files.append(build_taskloom_wheel(cache))

    # Per process: builds started side by side (several test runs) must not share one.
    staging = site.with_name(f"{site.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for package in recipe.npm:
        _extract_npm(tarballs[package.name], staging / package.dest, package.files,
                     package.strip)
    runtime = recipe.npm_package("pyodide")
    runtime_dir = staging / runtime.dest
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        # The runtime's own lock: its "info" block heads ours, and Pyodide
        # under Node needs a lock beside it while it compiles our wheels.
        _extract_npm(tarballs[runtime.name], Path(scratch), ["pyodide-lock.json"], "")
        runtime_lock = Path(scratch) / "pyodide-lock.json"
        if compile_bytecode:
            shutil.copy(runtime_lock, runtime_dir / "pyodide-lock.json")
            wheel_files = compile_wheels(wheel_files, runtime_dir, runtime.version, cache,
                                         keep_sources={"taskloom"})
        for wheel in wheel_files:
            shutil.copy(wheel, runtime_dir / wheel.name)
        write_lock([runtime_dir / w.name for w in wheel_files], runtime_lock,
                   runtime_dir / "pyodide-lock.json")
    if snapshot:  # from the runtime, wheels and lock just written
        add_snapshot(runtime_dir, cache, log)

    for path in _tree_files(ROOT / "web", ("*",)):
        if path.is_relative_to(bundles.ENTRIES_DIR):
            continue  # bundle sources: esbuild writes their output below
        target = staging / path.relative_to(ROOT / "web")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    # The repository's examples (the README's headline graph and its document): the
    # page's gallery opens the same files that `taskloom run examples/…` runs.
    for path in _tree_files(ROOT / "examples", ("*",)):
        target = staging / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    bundles.build_bundles(staging, log)
    add_models(staging)  # the local models, into models/ (scripts/build_site/models.py)
    version = _write_manifest(staging)
    worker = staging / "sw.js"
    worker.write_text(worker.read_text().replace(VERSION_PLACEHOLDER, version))
    stamp_path = staging / STAMP
    stamp_path.write_text(fingerprint + "\n")

    prune_cache(cache / "taskloom-wheel", keep=8)
    prune_cache(cache / "compiled", keep=len(wheel_files) + 16)
    prune_cache(cache / "snapshot", keep=4)

    old = site.with_name(f"{site.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    staging.rename(site)
    shutil.rmtree(old, ignore_errors=True)
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    log(f"built {site} (version {version}, {size / 1e6:.1f} MB) "
        f"in {time.monotonic() - started:.1f} s")
    return site
