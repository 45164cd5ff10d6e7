"""Named SQL queries read from the ``.sql`` files beside the backends.

A file is a sequence of blocks, each opened by a ``-- name: <query name>``
line; everything up to the next such line is that query (procrastinate's
convention). Python code asks for a query by name and holds no SQL.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from .protocol import check_key, encode_value

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(file_name: str) -> dict[str, str]:
    """The queries in ``taskloom/storage/<file_name>``, by name."""
    text = resources.files(__package__).joinpath(file_name).read_text(encoding="utf-8")
    return parse_queries(text)


def parse_queries(text: str) -> dict[str, str]:
    parts = _NAME_LINE.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def load_migrations(folder: str) -> list[tuple[int, str, str]]:
    """``(version, file name, sql)`` of ``migrations/<folder>/NNNN_*.sql``, in order."""
    root = resources.files(__package__).joinpath("migrations", folder)
    found = []
    for item in root.iterdir():
        match = re.fullmatch(r"(\d{4})_\w+\.sql", item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


def compare_and_set_statement(collection: str, key: str, expected: Any, value: Any,
                              now: float) -> tuple[str, tuple[Any, ...]] | None:
    """The named query and parameters of one atomic compare-and-set.

    ``expected``/``value`` are JSON values, or None for "absent"; both None
    gives None: the caller answers that with a read. The key is checked and
    the values encoded here. The SQL backends share the query names
    (``insert_if_absent``, ``delete_if``, ``replace_if``): one statement
    each, so the database checks the condition against the committed row.
    """
    check_key(key)
    if expected is None and value is None:
        return None
    expected = None if expected is None else encode_value(expected)
    value = None if value is None else encode_value(value)
    if expected is None:
        return "insert_if_absent", (collection, key, value, now)
    if value is None:
        return "delete_if", (collection, key, expected)
    return "replace_if", (value, now, collection, key, expected)
