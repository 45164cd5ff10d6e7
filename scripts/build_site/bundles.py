"""The page's npm libraries (React Flow, CodeMirror, dagre), bundled with esbuild.

build/npm/package.json pins every library; build/npm/package-lock.json holds
the sha512 of each tarball, which `npm ci` checks. Each `web/bundles/<name>.js`
or `.jsx` is an entry: esbuild writes `bundles/<name>.js` (and `<name>.css`
when the entry imports CSS) into the site, so the page itself stays plain ES
modules that import one file per library group.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .recipe import BuildError

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / "build" / "npm"
NODE_MODULES = NPM_DIR / "node_modules"
ENTRIES_DIR = ROOT / "web" / "bundles"
_STAMP = NODE_MODULES / ".taskloom-lock-sha256"


def entries() -> list[Path]:
    return sorted(p for p in ENTRIES_DIR.glob("*.js*") if p.suffix in {".js", ".jsx"})


def inputs() -> list[Path]:
    """What the bundles depend on, for the site's fingerprint."""
    sources = [p for p in ENTRIES_DIR.rglob("*") if p.is_file()] if ENTRIES_DIR.exists() else []
    return [NPM_DIR / "package.json", NPM_DIR / "package-lock.json", *sorted(sources)]


def ensure_node_modules(log=print) -> Path:
    """`npm ci` once per lock file: installs exactly the locked, hash-checked tarballs."""
    lock = (NPM_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock).hexdigest()
    if _STAMP.exists() and _STAMP.read_text().strip() == digest:
        return NODE_MODULES
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is missing: install Debian's nodejs and npm "
                         "(apt-get install nodejs npm)")
    log("build-site: npm ci (build/npm/package-lock.json)")
    # --ignore-scripts: no package runs code at install; esbuild finds its
    # binary in the platform package npm picks from the lock.
    result = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NPM_DIR, capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"npm ci failed in {NPM_DIR}:\n{result.stderr[-3000:]}")
    _STAMP.write_text(digest + "\n")
    return NODE_MODULES


def build_bundles(site: Path, log=print) -> list[Path]:
    """Bundles every entry into ``site/bundles/``; answers the files written."""
    found = entries()
    if not found:
        return []
    node_modules = ensure_node_modules(log)
    esbuild = node_modules / ".bin" / "esbuild"
    out = site / "bundles"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    for entry in found:
        result = subprocess.run(
            [str(esbuild), str(entry), "--bundle", "--format=esm", "--minify",
             "--target=es2022", "--jsx=automatic", "--loader:.js=jsx",
             "--define:process.env.NODE_ENV=\"production\"", "--legal-comments=none",
             "--log-level=warning", f"--outfile={out / (entry.stem + '.js')}"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"esbuild failed on {entry.relative_to(ROOT)}:\n"
                             f"{result.stderr[-3000:]}")
    return sorted(p for p in out.iterdir() if p.is_file())
