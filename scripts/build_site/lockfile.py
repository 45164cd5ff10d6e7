"""Writes the pyodide-lock.json that lets Pyodide install our wheels offline.

PyPI's `pyodide-lock` cannot read the Pyodide 314 lock schema, so this is a
small builder of its own: wheel metadata (read with `packaging`) gives each
entry's name, version, imports and dependencies, with markers evaluated for
Pyodide (emscripten, wasm32).
"""

from __future__ import annotations

import json
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .downloads import sha256_of
from .recipe import BuildError


def pyodide_environment(python_full_version: str) -> dict[str, str]:
    environment = default_environment()
    major_minor = ".".join(python_full_version.split(".")[:2])
    environment.update(
        implementation_name="cpython",
        implementation_version=python_full_version,
        os_name="posix",
        platform_machine="wasm32",
        platform_python_implementation="CPython",
        platform_release="",
        platform_system="Emscripten",
        platform_version="",
        python_full_version=python_full_version,
        python_version=major_minor,
        sys_platform="emscripten",
    )
    return environment


def _read_metadata(archive: zipfile.ZipFile) -> tuple[str, list[str]]:
    names = archive.namelist()
    metadata_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
    if metadata_name is None:
        raise BuildError(f"{archive.filename}: no .dist-info/METADATA")
    return archive.read(metadata_name).decode(), names


def _top_level_imports(archive: zipfile.ZipFile, names: list[str]) -> list[str]:
    top_level = next((n for n in names if n.endswith(".dist-info/top_level.txt")), None)
    if top_level is not None:
        listed = archive.read(top_level).decode().split()
        if listed:
            return sorted({name.split("/")[0] for name in listed})
    imports = set()
    for name in names:
        head = name.split("/", 1)[0]
        if head.endswith((".dist-info", ".data")) or head == "__pycache__":
            continue
        if "/" in name:
            imports.add(head)
        elif name.endswith(".py"):
            imports.add(name[:-3])
        elif ".cpython-" in name or name.endswith(".so"):
            imports.add(name.split(".", 1)[0])
    return sorted(imports)


def lock_entry(wheel: Path, environment: dict[str, str]) -> dict:
    with zipfile.ZipFile(wheel) as archive:
        metadata_text, names = _read_metadata(archive)
        imports = _top_level_imports(archive, names)
    metadata = Parser().parsestr(metadata_text)
    depends = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(
            {**environment, "extra": ""}
        ):
            depends.append(canonicalize_name(requirement.name))
    return {
        "name": canonicalize_name(metadata["Name"]),
        "version": metadata["Version"],
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": sha256_of(wheel),
        "package_type": "package",
        "imports": imports,
        "depends": sorted(set(depends)),
        "unvendored_tests": False,
        "shared_library": False,
    }


def write_lock(wheels: list[Path], runtime_lock: Path, output: Path) -> dict:
    """Writes the lock for `wheels` (all in output's folder); returns it."""
    info = json.loads(runtime_lock.read_text())["info"]
    environment = pyodide_environment(info["python"])
    packages = {}
    for wheel in wheels:
        entry = lock_entry(wheel, environment)
        packages[entry["name"]] = entry
    for entry in packages.values():
        missing = [name for name in entry["depends"] if name not in packages]
        if missing:
            raise BuildError(
                f"{entry['file_name']} requires {', '.join(missing)} under Pyodide, "
                f"which build/browser.toml does not pin: add a [[wheel]] for each"
            )
    lock = {"info": info, "packages": dict(sorted(packages.items()))}
    output.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return lock
