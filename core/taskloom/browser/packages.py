"""The user's own pure-Python wheels in the page: kept in IndexedDB, installed with micropip.

The Packages panel (web/panels/packages.js) hands a wheel's bytes to the
engine (``add_package``); the engine checks that it is a pure-Python wheel
(``*-none-any.whl`` with a readable ``.dist-info/METADATA``), keeps it in the
browser's IndexedDB (database ``taskloom-packages``) and installs it with
micropip, which the site serves (build/browser.toml pins it; it is loaded
with ``loadPackage`` the first time it is needed). Every engine start
installs the kept wheels again before the first code-box run
(``ensure_installed``), so a reload, or the fresh engine an Abort may start,
imports them as before.

A wheel's requirements are not fetched (``deps=False``): offline there is
nowhere to fetch them from. Drop them in too. An install from PyPI is the
one request that leaves the site, so it happens only when the user asks
(``install_from_pypi``) and only when the browser says it is online.

Under CPython the same logic runs over a ``MemoryWheels`` store and a
``FolderInstaller`` (a pure-Python wheel unpacked onto ``sys.path`` is what
an install is), which is how tests/browser/test_packages_logic.py checks it.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import re
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any, Protocol

#: IndexedDB database and store of the kept wheels (key: the wheel's file name).
DATABASE = "taskloom-packages"
STORE = "wheels"
#: Where the engine writes a wheel for micropip to read (``emfs:`` = Pyodide's file system).
WHEEL_DIR = "/tmp/taskloom-wheels"
#: Larger than any pure-Python wheel a task needs; keeps a mistaken drop (a model) out.
MAX_WHEEL_BYTES = 50 * 1024 * 1024
#: name-version(-build)?-python-abi-platform.whl (PEP 427).
WHEEL_NAME = re.compile(
    r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(-\d[A-Za-z0-9_.]*)?"
    r"-(?P<python>[a-z0-9_.]+)-(?P<abi>[a-z0-9_.]+)-(?P<platform>[a-z0-9_.]+)\.whl$")
#: What a requirement typed into the PyPI box may look like: a name, extras, a version.
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                         r"\s*((==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)*$")


class PackageError(ValueError):
    """A wheel or a request the panel must refuse; the message says why."""


def check_wheel(filename: str, data: bytes) -> dict[str, Any]:
    """``{filename, name, version, size, summary}`` of a pure-Python wheel, or PackageError."""
    if "/" in filename or "\\" in filename or not filename.endswith(".whl"):
        raise PackageError(f"{filename!r} is not a wheel: its name must end in .whl "
                           "(build one with `python -m pip wheel .`)")
    match = WHEEL_NAME.match(filename)
    if match is None:
        raise PackageError(f"{filename!r} is not a wheel file name (name-version-python-abi-"
                           "platform.whl)")
    if match["abi"] != "none" or match["platform"] != "any":
        raise PackageError(
            f"{filename} is built for {match['abi']}/{match['platform']}: only pure-Python "
            "wheels (…-none-any.whl) install in the page")
    if len(data) > MAX_WHEEL_BYTES:
        raise PackageError(f"{filename} is {len(data)} bytes: more than the "
                           f"{MAX_WHEEL_BYTES // (1024 * 1024)} MB a package may have here")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        metadata_name = next((n for n in names if n.count("/") == 1
                              and n.endswith(".dist-info/METADATA")), None)
        if metadata_name is None:
            raise PackageError(f"{filename} has no .dist-info/METADATA: not a wheel")
        metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8", "replace"))
    except zipfile.BadZipFile:
        raise PackageError(f"{filename} is not a zip archive: not a wheel") from None
    name, version = metadata.get("Name"), metadata.get("Version")
    if not name or not version:
        raise PackageError(f"{filename}'s METADATA names no Name or Version")
    return {"filename": filename, "name": name, "version": version, "size": len(data),
            "summary": metadata.get("Summary") or "",
            "requires": metadata.get_all("Requires-Dist") or []}


def check_requirement(requirement: str) -> str:
    text = (requirement or "").strip()
    if not text or not REQUIREMENT.match(text):
        raise PackageError(f"{requirement!r} is not a package requirement: give a name, "
                           "e.g. `humanize` or `humanize==4.9.0`")
    return text


class Wheels(Protocol):
    """Where the kept wheels live: file name → bytes."""

    async def put(self, filename: str, data: bytes) -> None: ...
    async def get(self, filename: str) -> bytes | None: ...
    async def delete(self, filename: str) -> None: ...
    async def names(self) -> list[str]: ...


class Installer(Protocol):
    async def install(self, filename: str, data: bytes) -> None: ...
    async def install_from_index(self, requirement: str) -> list[str]: ...
    def online(self) -> bool: ...


class MemoryWheels:
    def __init__(self) -> None:
        self._wheels: dict[str, bytes] = {}

    async def put(self, filename: str, data: bytes) -> None:
        self._wheels[filename] = bytes(data)

    async def get(self, filename: str) -> bytes | None:
        return self._wheels.get(filename)

    async def delete(self, filename: str) -> None:
        self._wheels.pop(filename, None)

    async def names(self) -> list[str]:
        return sorted(self._wheels)


class FolderInstaller:
    """CPython: unpacks a pure-Python wheel into ``target`` (put on ``sys.path``)."""

    def __init__(self, target: Path | None = None) -> None:
        self._target = Path(target) if target is not None else None

    @property
    def target(self) -> Path:
        if self._target is None:  # made on the first install: most engines never install
            import tempfile

            self._target = Path(tempfile.mkdtemp(prefix="taskloom-wheels-"))
        return self._target

    async def install(self, filename: str, data: bytes) -> None:
        self.target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in member.split("/"):
                    raise PackageError(f"{filename} holds a path outside its folder: {member}")
            archive.extractall(self.target)
        if str(self.target) not in sys.path:
            sys.path.insert(0, str(self.target))
        importlib.invalidate_caches()

    async def install_from_index(self, requirement: str) -> list[str]:
        raise PackageError("PyPI installs run only in the page")

    def online(self) -> bool:
        return False


class Packages:
    """The panel's logic over a wheel store and an installer."""

    def __init__(self, wheels: Wheels, installer: Installer) -> None:
        self.wheels = wheels
        self.installer = installer
        self.installed: dict[str, str] = {}  # filename → "installed" or the error
        self._startup: asyncio.Future | None = None

    async def add(self, filename: str, data_base64: str) -> dict[str, Any]:
        try:
            data = base64.b64decode(data_base64, validate=True)
        except ValueError:
            raise PackageError(f"{filename}: the bytes did not arrive (bad base64)") from None
        info = check_wheel(filename, data)
        for other in await self.wheels.names():  # one version of a package at a time
            if other != filename and _project(other) == _project(filename):
                await self.wheels.delete(other)
                self.installed.pop(other, None)
        await self._install(filename, data)
        if self.installed[filename] != "installed":
            raise PackageError(f"{filename} did not install: {self.installed[filename]}")
        await self.wheels.put(filename, data)  # kept only once it installs
        return {**info, "state": "installed"}

    async def remove(self, filename: str) -> None:
        if await self.wheels.get(filename) is None:
            raise PackageError(f"no kept wheel named {filename!r}")
        await self.wheels.delete(filename)
        self.installed.pop(filename, None)

    async def list(self) -> list[dict[str, Any]]:
        await self.ensure_installed()
        found = []
        for filename in await self.wheels.names():
            data = await self.wheels.get(filename)
            try:
                info = check_wheel(filename, data or b"")
            except PackageError as error:
                info = {"filename": filename, "name": filename, "version": "", "size": 0,
                        "error": str(error)}
            state = self.installed.get(filename, "not installed")
            info["state"] = "installed" if state == "installed" else "failed"
            if state != "installed":
                info["error"] = state
            found.append(info)
        return found

    async def _install(self, filename: str, data: bytes) -> None:
        try:
            await self.installer.install(filename, data)
        except Exception as error:  # micropip's own errors: the panel shows them
            self.installed[filename] = f"{type(error).__name__}: {error}"
        else:
            self.installed[filename] = "installed"

    async def _install_kept(self) -> None:
        for filename in await self.wheels.names():
            data = await self.wheels.get(filename)
            if data is not None and filename not in self.installed:
                await self._install(filename, data)

    async def ensure_installed(self) -> None:
        """The kept wheels, installed once per engine (each later call waits for it)."""
        if self._startup is None or (self._startup.done() and (
                self._startup.cancelled() or self._startup.exception() is not None)):
            self._startup = asyncio.ensure_future(self._install_kept())
        await asyncio.shield(self._startup)

    async def install_from_pypi(self, requirement: str) -> dict[str, Any]:
        text = check_requirement(requirement)
        if not self.installer.online():
            raise PackageError("this browser is offline: an install from PyPI needs the "
                               "network (drop a wheel file here instead)")
        return {"requirement": text, "installed": await self.installer.install_from_index(text)}


def _project(filename: str) -> str:
    return re.sub(r"[-_.]+", "-", filename.split("-", 1)[0]).lower()


# -- the browser: IndexedDB and micropip --------------------------------------------


class IndexedDBWheels:
    """The kept wheels in IndexedDB (Uint8Array values), opened on first use."""

    def __init__(self) -> None:
        self._store: Any = None

    async def _kv(self) -> Any:
        if self._store is None:
            from .idb import KeyValueStore, open_database

            def upgrade(database: Any, _old: int, _new: int) -> None:
                if not database.objectStoreNames.contains(STORE):
                    database.createObjectStore(STORE)

            self._store = KeyValueStore(await open_database(DATABASE, 1, upgrade), STORE)
        return self._store

    async def put(self, filename: str, data: bytes) -> None:
        from pyodide.ffi import to_js

        await (await self._kv()).put(filename, to_js(data))

    async def get(self, filename: str) -> bytes | None:
        value = await (await self._kv()).get(filename)
        return None if value is None else bytes(value.to_py())

    async def delete(self, filename: str) -> None:
        await (await self._kv()).delete(filename)

    async def names(self) -> list[str]:
        return sorted(await (await self._kv()).keys())


class Micropip:
    """micropip from the site (loadPackage, offline), installing from Pyodide's file system."""

    async def _micropip(self) -> Any:
        from .cloud import load_packages

        try:
            import micropip
        except ImportError:
            await load_packages(("micropip",))
            import micropip
        return micropip

    async def install(self, filename: str, data: bytes) -> None:
        micropip = await self._micropip()
        folder = Path(WHEEL_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / filename
        path.write_bytes(data)
        # deps=False: a requirement would be looked up on PyPI, which the page never asks
        # unless the user does (the PyPI button).
        await micropip.install(f"emfs:{path}", deps=False, reinstall=True)
        importlib.invalidate_caches()

    async def install_from_index(self, requirement: str) -> list[str]:
        micropip = await self._micropip()
        before = set(micropip.list())
        await micropip.install(requirement)
        importlib.invalidate_caches()
        return sorted(set(micropip.list()) - before)

    def online(self) -> bool:
        import js

        return bool(js.navigator.onLine)


def for_this_runtime(target: Path | None = None) -> Packages:
    """IndexedDB + micropip in Pyodide; memory + a folder on sys.path under CPython."""
    if sys.platform == "emscripten":
        return Packages(IndexedDBWheels(), Micropip())
    return Packages(MemoryWheels(), FolderInstaller(target))
