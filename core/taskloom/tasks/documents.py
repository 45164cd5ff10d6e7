"""Documents: LoadDocument reads a file as text, WriteFile writes one, DocumentSplitter cuts text.

    LoadDocument      path (+ format, encoding)      → text, format, path, data
    WriteFile         path, text (+ overwrite)       → path, bytes
    DocumentSplitter  text (+ by, size, overlap)     → text (list), spans

Paths are kept inside the run's file root (``file_root.py``). LoadDocument
reads plain text, Markdown, JSON and CSV (whose parsed value is ``data`` as
well), HTML as its visible text and PDF as the text of its pages (pypdf); any
other binary or undecodable file is a DocumentError. WriteFile writes to a
temporary file beside the target and renames it over, so a failed write
leaves the old file (or none) in place; the task completes only once the
write is durable (in the page: on OPFS, ``file_root.written``).

DocumentSplitter's ``text`` output is a list, so the next task that takes one
``text`` runs once per piece; ``spans`` are ``[start, end)`` character
offsets of each piece in the source.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import DocumentError, FileAccessError, TaskInputError
from ..optional import import_optional
from ..task import Task, TaskContext
from .file_root import file_root, inside_root, relative_to_root, written

DocumentFormat = Literal["text", "markdown", "json", "csv", "html", "pdf"]
_BY_SUFFIX: dict[str, DocumentFormat] = {
    ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
    ".json": "json", ".csv": "csv", ".html": "html", ".htm": "html", ".pdf": "pdf",
}
#: A NUL in the first bytes means binary: text encodings that taskloom reads never hold one.
_SNIFF_BYTES = 8192


class LoadDocument(Task):
    """Reads a text, Markdown, JSON, CSV, HTML or PDF file under the file root, as text."""

    category = "documents"
    cacheable = False  # the file may change between runs while the input stays the same

    class Input(BaseModel):
        path: str
        format: Literal["auto", "text", "markdown", "json", "csv", "html", "pdf"] = "auto"
        encoding: str = "utf-8"
        max_bytes: int = Field(50_000_000, ge=1)

    class Output(BaseModel):
        text: str
        format: str
        path: str
        data: Any = None

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        root = file_root(ctx.services)
        real = inside_root(root, input.path)
        fmt = input.format if input.format != "auto" else _guess_format(real)
        raw = _read_bytes(real, input.path, input.max_bytes)
        if fmt == "pdf":
            pypdf = await import_optional("pypdf", purpose="reading PDF", extra="documents")
            return {"text": pdf_to_text(pypdf, raw, input.path), "format": fmt,
                    "path": relative_to_root(root, real), "data": None}
        if b"\x00" in raw[:_SNIFF_BYTES]:
            raise DocumentError(f"{input.path!r} is a binary file, not text: LoadDocument reads "
                                "text, Markdown, JSON, CSV and HTML", path=input.path)
        try:
            text = raw.decode(input.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DocumentError(f"{input.path!r} is not {input.encoding} text ({exc}); give its "
                                "encoding as 'encoding'", path=input.path) from exc
        data: Any = None
        if fmt == "json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DocumentError(f"{input.path!r} is not valid JSON: {exc}",
                                    path=input.path) from exc
        elif fmt == "csv":
            try:
                data = list(csv.DictReader(io.StringIO(text, newline="")))
            except csv.Error as exc:
                raise DocumentError(f"{input.path!r} is not valid CSV: {exc}",
                                    path=input.path) from exc
        elif fmt == "html":
            text = html_to_text(text)
        return {"text": text, "format": fmt, "path": relative_to_root(root, real), "data": data}


def _guess_format(path: Path) -> DocumentFormat:
    return _BY_SUFFIX.get(path.suffix.lower(), "text")


def _read_bytes(real: Path, shown: str, limit: int) -> bytes:
    try:
        with open(real, "rb") as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise FileAccessError(f"no file {shown!r} under the file root", path=shown) from exc
    except IsADirectoryError as exc:
        raise FileAccessError(f"{shown!r} is a folder, not a file", path=shown) from exc
    except OSError as exc:
        raise FileAccessError(f"cannot read {shown!r}: {exc.strerror or exc}",
                              path=shown) from exc
    if len(raw) > limit:
        raise DocumentError(f"{shown!r} is larger than max_bytes ({limit:,}); raise max_bytes "
                            "to read it", path=shown)
    return raw


class _TextOfHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "template", "noscript", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "table", "section",
                        "article", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
                        "pre", "blockquote", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML page: blocks become paragraphs, scripts and styles vanish."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", "".join(parser.parts)))
    return "\n\n".join(p for p in paragraphs if p)


def pdf_to_text(pypdf: ModuleType, raw: bytes, shown: str) -> str:
    """The text of every page (pypdf, pure Python: the same in Pyodide), pages apart by a blank
    line."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"{shown!r} is not a readable PDF: {exc}", path=shown) from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


class WriteFile(Task):
    """Writes text to a file under the file root, all at once or not at all."""

    category = "documents"
    cacheable = False

    class Input(BaseModel):
        path: str
        text: str
        encoding: str = "utf-8"
        overwrite: bool = True

    class Output(BaseModel):
        path: str
        bytes: int

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        root = file_root(ctx.services)
        real = inside_root(root, input.path)
        if real == root or real.is_dir():
            raise FileAccessError(f"{input.path!r} is a folder; name a file", path=input.path)
        if not input.overwrite and real.exists():
            raise FileAccessError(f"{input.path!r} exists; set overwrite to replace it",
                                  path=input.path)
        try:
            data = input.text.encode(input.encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            raise DocumentError(f"the text cannot be written as {input.encoding}: {exc}",
                                path=input.path) from exc
        _write_atomically(real, data, input.path)
        await written(real)  # in the page: on OPFS now, not only after the run
        return {"path": relative_to_root(root, real), "bytes": len(data)}


def _write_atomically(real: Path, data: bytes, shown: str) -> None:
    temp: str | None = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, real)
        temp = None
    except OSError as exc:
        raise FileAccessError(f"cannot write {shown!r}: {exc.strerror or exc}",
                              path=shown) from exc
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)


class DocumentSplitter(Task):
    """Splits text into paragraphs, sentences, or chunks of characters or model tokens."""

    category = "documents"

    class Input(BaseModel):
        text: str
        by: Literal["paragraph", "sentence", "chunk"] = "paragraph"
        size: int = Field(1000, ge=1, description="chunk length (by='chunk')")
        overlap: int = Field(0, ge=0, description="how much consecutive chunks share")
        unit: Literal["characters", "tokens"] = "characters"
        model: str | None = Field(None, description="whose tokens count (unit='tokens')")

    class Output(BaseModel):
        text: list[str]
        spans: list[tuple[int, int]]

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        # Checked here, not by a model validator: defaults are validated one port at a time.
        if input.by == "chunk" and input.overlap >= input.size:
            raise TaskInputError(f"overlap ({input.overlap}) must be smaller than size "
                                 f"({input.size})")
        if input.by == "chunk" and input.unit == "tokens" and not input.model:
            raise TaskInputError("unit='tokens' needs the model whose tokens are counted")
        if input.by == "paragraph":
            spans = paragraph_spans(input.text)
        elif input.by == "sentence":
            spans = sentence_spans(input.text)
        elif input.unit == "characters":
            spans = chunk_spans(input.text, input.size, input.overlap)
        else:
            offsets = await _token_offsets(input.model, input.text, ctx)
            spans = token_chunk_spans(offsets, input.size, input.overlap)
        return {"text": [input.text[a:b] for a, b in spans], "spans": spans}


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Pieces between blank lines, without their surrounding whitespace."""
    spans, start = [], 0
    for gap in re.finditer(r"\n[ \t\r\f\v]*\n\s*", text):
        span = _trimmed(text, start, gap.start())
        if span:
            spans.append(span)
        start = gap.end()
    span = _trimmed(text, start, len(text))
    if span:
        spans.append(span)
    return spans


# A sentence ends at . ! ? or … (with closing quotes or brackets) before whitespace or the end.
_SENTENCE_END = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]]*(?=\\s|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for paragraph_start, paragraph_end in paragraph_spans(text):
        start = paragraph_start
        for end in _SENTENCE_END.finditer(text, paragraph_start, paragraph_end):
            span = _trimmed(text, start, end.end())
            if span:
                spans.append(span)
            start = end.end()
        span = _trimmed(text, start, paragraph_end)
        if span:
            spans.append(span)
    return spans


def chunk_spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    step = size - overlap
    spans = []
    for start in range(0, max(len(text), 1), step):
        spans.append((start, min(start + size, len(text))))
        if start + size >= len(text):
            break
    return [s for s in spans if s[0] < s[1]]


def token_chunk_spans(offsets: list[tuple[int, int]], size: int,
                      overlap: int) -> list[tuple[int, int]]:
    """Chunks of ``size`` tokens (sharing ``overlap``), as character spans of the source."""
    step = size - overlap
    spans = []
    for first in range(0, len(offsets), step):
        last = min(first + size, len(offsets)) - 1
        spans.append((offsets[first][0], offsets[last][1]))
        if first + size >= len(offsets):
            break
    return spans


async def _token_offsets(model_id: str, text: str, ctx: TaskContext) -> list[tuple[int, int]]:
    """Each token's character span, from the tokenizer.json in the model's folder."""
    from ..ai.catalog import catalog
    from ..ai.task import model_repository
    from ..errors import ModelDependencyError

    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelDependencyError("counting in tokens needs the tokenizers package: "
                                   "pip install 'taskloom[onnx]'") from exc
    record = await catalog.resolve(model_id, model_repository(ctx))
    tokenizer = Tokenizer.from_file(str(catalog.locate(record) / "tokenizer.json"))
    # Model folders ship padding and truncation settings; a splitter must see every token.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encoding = tokenizer.encode(text, add_special_tokens=False)
    return [(a, b) for a, b in encoding.offsets if b > a]
