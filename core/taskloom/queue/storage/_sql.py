"""Reads a backend's ``.sql`` file: named queries separated by ``-- name: NAME`` lines.

A line ``-- include: NAME`` stands for the text of the query ``NAME`` given
earlier in the file, without its closing semicolon, so statements that share a
part (a completion inside a complete-and-claim, the claim's CTEs) write it once.
"""

from __future__ import annotations

from importlib import resources


def load_queries(filename: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name is not None:
                queries[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif line.startswith("-- include:"):
            part = line.split(":", 1)[1].strip()
            if part not in queries:
                raise ValueError(f"{filename}: '-- include: {part}' comes before its query")
            lines.append(queries[part].rstrip().removesuffix(";"))
        elif name is not None:
            lines.append(line)
    if name is not None:
        queries[name] = "\n".join(lines).strip()
    return queries
