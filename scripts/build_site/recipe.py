"""Reads build/browser.toml: the pinned list of every browser-side artifact."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class BuildError(Exception):
    """The site cannot be built; the message says what to fix."""


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    sha256: str
    dest: str
    files: list[str]
    strip: str = ""

    @property
    def tarball(self) -> str:
        # npm pack names a scoped package "scope-name-version.tgz"
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    file: str
    sha256: str

    @property
    def is_pyodide_build(self) -> bool:
        return "pyemscripten" in self.file


@dataclass(frozen=True)
class Recipe:
    path: Path
    npm: list[NpmPackage] = field(default_factory=list)
    wheels: list[Wheel] = field(default_factory=list)

    def npm_package(self, name: str) -> NpmPackage:
        for package in self.npm:
            if package.name == name:
                return package
        raise BuildError(f"{self.path}: no [[npm]] entry named {name!r}")


def load_recipe(path: Path) -> Recipe:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"cannot read the recipe {path}: {error}") from error
    try:
        npm = [NpmPackage(**entry) for entry in data.get("npm", [])]
        wheels = [Wheel(**entry) for entry in data.get("wheel", [])]
    except TypeError as error:
        raise BuildError(f"{path}: malformed entry: {error}") from error
    for wheel in wheels:
        if not wheel.file.endswith(".whl") or f"-{wheel.version}-" not in wheel.file:
            raise BuildError(
                f"{path}: wheel {wheel.name}: file {wheel.file!r} is not a wheel of "
                f"version {wheel.version}"
            )
    return Recipe(path=path, npm=npm, wheels=wheels)
