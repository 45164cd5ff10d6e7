"""LoadDocument, WriteFile and DocumentSplitter on real files under a real file root."""

from __future__ import annotations

import json
import os

import pytest

from prerequisites import need_module
from support import run_watched
from taskloom import TaskGraph, TaskGraphRunner, Workflow, from_code, to_code
from taskloom.errors import DocumentError, FileAccessError, TaskInputError
from taskloom.tasks.documents import DocumentSplitter, LoadDocument, WriteFile

# Permissions bind only a user other than root (Pyodide's file system has no users).
AS_ROOT = not hasattr(os, "geteuid") or os.geteuid() == 0


async def run_one(task, root):
    result = await TaskGraphRunner(TaskGraph([task]),
                                   services={"file_root": str(root)}).run()
    return result[task.id]


# -- LoadDocument ---------------------------------------------------------------------


async def test_reads_text_and_markdown_relative_to_the_root(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("# Title\n\nBody é.\n", encoding="utf-8")
    out = await run_one(LoadDocument(id="load", defaults={"path": "notes/a.md"}), tmp_path)
    assert out == {"text": "# Title\n\nBody é.\n", "format": "markdown",
                   "path": "notes/a.md", "data": None}


async def test_reads_json_and_csv_with_their_parsed_data(tmp_path):
    (tmp_path / "d.json").write_text('{"a": [1, 2]}', encoding="utf-8")
    (tmp_path / "t.csv").write_text("name,n\nAda,1\n\"B, c\",2\n", encoding="utf-8")
    out = await run_one(LoadDocument(id="j", defaults={"path": "d.json"}), tmp_path)
    assert out["format"] == "json" and out["data"] == {"a": [1, 2]}
    out = await run_one(LoadDocument(id="c", defaults={"path": "t.csv"}), tmp_path)
    assert out["data"] == [{"name": "Ada", "n": "1"}, {"name": "B, c", "n": "2"}]


async def test_reads_html_as_its_visible_text(tmp_path):
    (tmp_path / "p.html").write_text(
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<h1>Hello &amp; welcome</h1><p>First   line\nwraps.</p><script>alert(1)</script>"
        "<p>Second.</p></body></html>", encoding="utf-8")
    out = await run_one(LoadDocument(id="h", defaults={"path": "p.html"}), tmp_path)
    assert out["text"] == "Hello & welcome\n\nFirst line wraps.\n\nSecond."


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF that draws ``lines`` in Helvetica, written object by object."""
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({t}) Tj 0 -16 Td" for t in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)


async def test_reads_the_text_of_a_pdf(tmp_path):
    need_module("pypdf", "pypdf is missing: pip install 'taskloom[documents]'")
    (tmp_path / "doc.pdf").write_bytes(minimal_pdf(["Hello PDF.", "Second line."]))
    out = await run_one(LoadDocument(id="p", defaults={"path": "doc.pdf"}), tmp_path)
    assert out["format"] == "pdf"
    assert out["text"] == "Hello PDF.\nSecond line."


async def test_a_broken_pdf_is_a_document_error(tmp_path):
    need_module("pypdf", "pypdf is missing: pip install 'taskloom[documents]'")
    (tmp_path / "bad.pdf").write_bytes(minimal_pdf(["x"])[:60])
    with pytest.raises(DocumentError, match="not a readable PDF"):
        await run_one(LoadDocument(id="p", defaults={"path": "bad.pdf"}), tmp_path)


async def test_a_binary_file_is_a_document_error(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DocumentError, match="binary") as caught:
        await run_one(LoadDocument(id="b", defaults={"path": "x.txt"}), tmp_path)
    assert caught.value.task_id == "b" and caught.value.path == "x.txt"


async def test_text_in_another_encoding_says_to_name_it(tmp_path):
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(DocumentError, match="encoding"):
        await run_one(LoadDocument(id="l", defaults={"path": "latin.txt"}), tmp_path)
    out = await run_one(LoadDocument(id="l2", defaults={"path": "latin.txt",
                                                        "encoding": "latin-1"}), tmp_path)
    assert out["text"] == "café"


async def test_malformed_json_is_a_document_error(tmp_path):
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(DocumentError, match="not valid JSON"):
        await run_one(LoadDocument(id="j", defaults={"path": "bad.json"}), tmp_path)


@pytest.mark.skipif(AS_ROOT, reason="root reads any file")
async def test_an_unreadable_file_is_a_file_access_error(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    secret.chmod(0)
    try:
        with pytest.raises(FileAccessError, match="cannot read"):
            await run_one(LoadDocument(id="s", defaults={"path": "secret.txt"}), tmp_path)
    finally:
        secret.chmod(0o600)


async def test_a_folder_is_not_a_document(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(FileAccessError, match="is a folder"):
        await run_one(LoadDocument(id="d", defaults={"path": "dir"}), tmp_path)


async def test_a_missing_file_is_a_file_access_error(tmp_path):
    with pytest.raises(FileAccessError, match=r"no file 'gone\.txt'"):
        await run_one(LoadDocument(id="g", defaults={"path": "gone.txt"}), tmp_path)


@pytest.mark.parametrize("escape", ["../outside.txt", "sub/../../outside.txt", "OUTSIDE",
                                    "link/outside.txt", "direct-link"])
async def test_no_path_leaves_the_root(tmp_path, escape):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    (root / "direct-link").symlink_to(outside)
    path = str(outside) if escape == "OUTSIDE" else escape
    with pytest.raises(FileAccessError, match="outside the file root"):
        await run_one(LoadDocument(id="x", defaults={"path": path}), root)


async def test_a_symlink_loop_or_a_nul_byte_is_a_file_access_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path in ("loop", "a\x00b"):
        with pytest.raises(FileAccessError):
            await run_one(LoadDocument(id="x", defaults={"path": path}), tmp_path)


async def test_the_root_comes_from_the_environment_when_the_runner_names_none(
        tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("from env", encoding="utf-8")
    monkeypatch.setenv("TASKLOOM_FILE_ROOT", str(tmp_path))
    result = await TaskGraphRunner(TaskGraph([LoadDocument(id="l", defaults={
        "path": "a.txt"})])).run()
    assert result["l"]["text"] == "from env"


# -- WriteFile ------------------------------------------------------------------------


async def test_writes_a_file_and_its_folders(tmp_path):
    out = await run_one(WriteFile(id="w", defaults={"path": "out/x.txt", "text": "hé"}),
                        tmp_path)
    assert out == {"path": "out/x.txt", "bytes": 3}
    assert (tmp_path / "out" / "x.txt").read_text(encoding="utf-8") == "hé"


async def test_writing_outside_the_root_writes_nothing(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    for path in ("../evil.txt", "link/evil.txt", str(tmp_path / "evil.txt")):
        with pytest.raises(FileAccessError, match="outside the file root"):
            await run_one(WriteFile(id="w", defaults={"path": path, "text": "x"}), root)
    assert not (tmp_path / "evil.txt").exists()


async def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(DocumentError, match="ascii"):
        await run_one(WriteFile(id="w", defaults={"path": "keep.txt", "text": "new é",
                                                  "encoding": "ascii"}), tmp_path)
    with pytest.raises(FileAccessError, match="exists"):
        await run_one(WriteFile(id="w2", defaults={"path": "keep.txt", "text": "new",
                                                   "overwrite": False}), tmp_path)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


async def test_a_write_is_made_durable_before_the_task_completes(tmp_path, writes):
    await run_watched(WriteFile(id="w", defaults={"path": "out/x.txt", "text": "hé"}),
                      tmp_path, writes)
    real = str((tmp_path / "out" / "x.txt").resolve())
    assert writes == [("written", real, "hé".encode()), ("complete", "w")]
    writes.clear()
    with pytest.raises(DocumentError):  # nothing written: nothing to make durable
        await run_watched(WriteFile(id="bad", defaults={"path": "y.txt", "text": "é",
                                                        "encoding": "ascii"}), tmp_path, writes)
    assert writes == []


@pytest.mark.skipif(AS_ROOT, reason="root writes anywhere")
async def test_a_write_into_a_read_only_folder_is_a_file_access_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(FileAccessError, match="cannot write"):
            await run_one(WriteFile(id="w", defaults={"path": "ro/x.txt", "text": "x"}),
                          tmp_path)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# -- DocumentSplitter -----------------------------------------------------------------

TEXT = "  First paragraph. It has two sentences!\n\n\n Second one? Yes.  \n\nThird\n"


async def split(**options):
    task = DocumentSplitter(id="s", defaults={"text": TEXT, **options})
    return (await TaskGraphRunner(TaskGraph([task])).run())["s"]


async def test_splits_paragraphs_with_offsets_into_the_source():
    out = await split()
    assert out["text"] == ["First paragraph. It has two sentences!", "Second one? Yes.",
                           "Third"]
    assert [TEXT[a:b] for a, b in out["spans"]] == out["text"]


async def test_splits_sentences_within_paragraphs():
    out = await split(by="sentence")
    assert out["text"] == ["First paragraph.", "It has two sentences!", "Second one?",
                           "Yes.", "Third"]
    assert [TEXT[a:b] for a, b in out["spans"]] == out["text"]


async def test_fixed_chunks_of_characters_overlap():
    out = await split(by="chunk", size=20, overlap=5)
    starts = [a for a, _ in out["spans"]]
    assert starts == list(range(0, len(TEXT), 15))[:len(starts)]
    assert all(b - a == 20 for a, b in out["spans"][:-1])
    assert out["spans"][-1][1] == len(TEXT)
    for (a, b), (c, _) in zip(out["spans"], out["spans"][1:], strict=False):
        assert TEXT[c:b] == TEXT[a:b][-5:]


async def test_overlap_must_be_smaller_than_size():
    with pytest.raises(TaskInputError, match="overlap"):
        await split(by="chunk", size=5, overlap=5)
    with pytest.raises(TaskInputError, match="needs the model"):
        await split(by="chunk", unit="tokens")


async def test_chunks_counted_in_the_models_tokens(local_models):
    """Past the tokenizer's own 128-token truncation too: a long text loses no tokens."""
    from tokenizers import Tokenizer

    from taskloom.ai.catalog import catalog

    model = "onnx:all-MiniLM-L6-v2:q8"
    long_text = TEXT + " word" * 300
    task = DocumentSplitter(id="s", defaults={"text": long_text, "by": "chunk",
                                              "unit": "tokens", "size": 4, "overlap": 1,
                                              "model": model})
    out = (await TaskGraphRunner(TaskGraph([task])).run())["s"]
    tokenizer = Tokenizer.from_file(
        str(catalog.locate(await catalog.resolve(model)) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    for chunk in out["text"][:-1]:
        assert len(tokenizer.encode(chunk, add_special_tokens=False).ids) == 4
    assert [long_text[a:b] for a, b in out["spans"]] == out["text"]
    assert out["spans"][0][0] == long_text.index("First")
    assert out["spans"][-1][1] == len(long_text)
    total = len(tokenizer.encode(long_text, add_special_tokens=False).ids)
    assert total > 300
    assert len(out["text"]) == 1 + -(-(total - 4) // 3)  # windows of 4, stepping by 3


# -- graphs ---------------------------------------------------------------------------


async def test_load_split_write_round_trips_through_json_and_code(tmp_path):
    (tmp_path / "in.txt").write_text("One.\n\nTwo.", encoding="utf-8")
    wf = Workflow()
    wf.load_document(id="load", path="in.txt")
    wf.document_splitter(id="split", by="sentence", size=50, overlap=3)
    graph = wf.graph
    doc = graph.to_json()
    assert [t["defaults"] for t in doc["tasks"]] == [
        {"path": "in.txt"}, {"by": "sentence", "size": 50, "overlap": 3}]
    again = TaskGraph.from_json(json.loads(json.dumps(doc)))
    assert again.to_json() == doc
    assert from_code(to_code(graph)).to_json() == doc
    result = await TaskGraphRunner(again, services={"file_root": str(tmp_path)}).run()
    assert result["split"]["text"] == ["One.", "Two."]
