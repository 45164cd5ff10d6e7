"""``file:///path``: one JSON file per record, one folder per collection.

Layout: ``<root>/<collection>/<quoted key>.json`` holding the record's
canonical JSON; the file's mtime is the record's ``updated_at``. A write
goes to a hidden temporary file that is renamed over the target, so a
reader (or a process killed mid-write) sees the old record or the new one,
never half of one. There is no fsync: a killed process loses nothing, a
power cut may lose the last writes.

``compare_and_set`` holds a lock file per collection (``flock``, which the
kernel drops if its process dies) across its read and write, so processes
sharing the folder see one winner; plain puts do not take it, so a record
kept by compare-and-set (an owner lease) is written no other way.

File operations are plain synchronous calls: the files are a few KB on a
local disk, and a thread hop would cost more than the read. It also keeps
this backend usable in Pyodide's in-memory filesystem, which has no threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from ..errors import StorageError, StoreUnavailableError
from .protocol import Entry, JSONValue, check_key, decode_value, encode_value

_SUFFIX = ".json"
_TEMP_PREFIX = ".tmp-"
#: Most filesystems refuse names over 255 bytes; leave room for the suffix.
_MAX_NAME_BYTES = 240
_COLLECTION_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _file_name(key: str) -> str:
    name = quote(check_key(key), safe="")
    if name.startswith("."):  # hidden names are reserved for temporary files
        name = "%2E" + name[1:]
    if len(name) > _MAX_NAME_BYTES:
        raise StorageError(
            f"key {key[:60]!r}… is too long for the filesystem store "
            f"({len(name)} bytes once quoted, at most {_MAX_NAME_BYTES}); "
            "use a shorter name or another backend"
        )
    return name + _SUFFIX


try:  # CPython on POSIX: a lock the kernel drops when its process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
if sys.platform == "emscripten":
    # Pyodide has one process, and compare_and_set never awaits while it holds the
    # lock, so the event loop alone makes it atomic.
    fcntl = None  # type: ignore[assignment]

_LOCK_NAME = ".lock"  # hidden: listings skip it


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the collection's lock file: compare-and-set across processes."""
    if fcntl is None:
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot open the lock file in {folder}: {exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def _key_of(file_name: str) -> str | None:
    if file_name.startswith(".") or not file_name.endswith(_SUFFIX):
        return None
    return unquote(file_name[: -len(_SUFFIX)])


class FileStore:
    """A KeyValueStore in a folder of JSON files."""

    def __init__(self, root: str | os.PathLike[str], *, clock: Callable[[], float] = time.time):
        self.path = Path(root)
        self._clock = clock

    def _folder(self, collection: str) -> Path:
        if not _COLLECTION_NAME.fullmatch(collection):
            raise StorageError(f"invalid collection name {collection!r}")
        return self.path / collection

    async def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create the store folder {self.path}: {exc}") from (
                exc
            )

    async def close(self) -> None:
        pass

    async def get(self, collection: str, key: str) -> JSONValue | None:
        path = self._folder(collection) / _file_name(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        return decode_value(collection, key, data)

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        return [await self.get(collection, key) for key in keys]  # a file per record anyway

    async def put(self, collection: str, key: str, value: JSONValue) -> None:
        self._write(self._folder(collection), key, encode_value(value), self._clock())

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        # Encode everything first: a non-JSON value then writes nothing at all.
        # Files are renamed one by one; a crash part-way leaves whole records.
        folder = self._folder(collection)
        encoded = [(key, encode_value(value)) for key, value in items.items()]
        now = self._clock()
        for key, text in encoded:
            self._write(folder, key, text, now)

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        # As put_many: encode all first, then rename whole records into place.
        encoded = [(self._folder(c), k, encode_value(v)) for c, k, v in records]
        for _, key, _ in encoded:
            _file_name(key)  # a key too long for the filesystem fails before any write
        now = self._clock()
        for folder, key, text in encoded:
            self._write(folder, key, text, now)

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        folder = self._folder(collection)
        path = folder / _file_name(key)
        want = None if expected is None else encode_value(expected)
        text = None if value is None else encode_value(value)
        with _locked(folder):
            try:
                current: str | None = path.read_bytes().decode("utf-8", "replace")
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise StorageError(f"cannot read {path}: {exc}") from exc
            if current != want:
                return False
            if text is None:
                path.unlink(missing_ok=True)
            else:
                self._write(folder, key, text, self._clock())
            return True

    def _write(self, folder: Path, key: str, text: str, updated_at: float) -> None:
        target = folder / _file_name(key)
        temp = folder / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temp.write_text(text, encoding="utf-8")
            os.utime(temp, (updated_at, updated_at))
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {target}: {exc}") from exc

    async def delete(self, collection: str, key: str) -> bool:
        try:
            (self._folder(collection) / _file_name(key)).unlink()
        except FileNotFoundError:
            return False
        return True

    def _listing(self, collection: str, prefix: str) -> list[tuple[str, os.DirEntry[str]]]:
        try:
            with os.scandir(self._folder(collection)) as entries:
                found = [(_key_of(e.name), e) for e in entries]
        except FileNotFoundError:
            return []
        return sorted(
            ((key, e) for key, e in found if key is not None and key.startswith(prefix)),
            key=lambda pair: pair[0],
        )

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        return [key for key, _ in self._listing(collection, prefix)]

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        entries = []
        for key, dir_entry in self._listing(collection, prefix):
            try:
                data = Path(dir_entry.path).read_bytes()
                updated_at = dir_entry.stat().st_mtime
            except FileNotFoundError:  # deleted since the listing
                continue
            entries.append(Entry(collection, key, data, updated_at))
        return entries

    async def count(self, collection: str) -> int:
        return len(self._listing(collection, ""))

    async def size(self, collection: str) -> int:
        total = 0
        for _, dir_entry in self._listing(collection, ""):
            try:
                total += dir_entry.stat().st_size
            except FileNotFoundError:
                continue
        return total

    async def clear(self, collection: str, prefix: str = "") -> int:
        removed = 0
        for _, dir_entry in self._listing(collection, prefix):
            try:
                os.unlink(dir_entry.path)
                removed += 1
            except FileNotFoundError:
                continue
        return removed

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        removed = 0
        for _, dir_entry in self._listing(collection, ""):
            try:
                if dir_entry.stat().st_mtime < cutoff:
                    os.unlink(dir_entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
