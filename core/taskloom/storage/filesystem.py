"""``file:///path``: one JSON file per record, one folder per collection.

Layout: ``<root>/<collection>/<quoted key>.json`` holding the record's
canonical JSON; the file's mtime is the record's ``updated_at``. A write
goes to a hidden temporary file that is renamed over the target, so a
reader (or a process killed mid-write) sees the old record or the new one,
never half of one. There is no fsync: a killed process loses nothing, a
power cut may lose the last writes.

File operations are plain synchronous calls: the files are a few KB on a
local disk, and a thread hop would cost more than the read. It also keeps
this backend usable in Pyodide's in-memory filesystem, which has no threads.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
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
