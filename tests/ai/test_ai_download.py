"""DownloadModel under CPython, against a local HTTP server (127.0.0.1 only) serving a
model folder that scripts/build-models built."""

from __future__ import annotations

import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from taskloom.ai import DownloadModel, TextEmbedding, catalog, onnx_local
from taskloom.ai import download as download_module
from taskloom.errors import ModelDownloadError, ModelNotFoundError, UnknownModelError
from taskloom.graph import TaskGraph
from taskloom.queue import queues
from taskloom.runner import TaskGraphRunner
from taskloom.storage import open_store
from taskloom.workflow import Workflow

MODEL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "onnx/model_quantized.onnx"]


class ModelServer:
    """A static server over ``root`` that records every request it answers."""

    def __init__(self, root: Path):
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                server.requests.append(("HEAD", self.path))
                super().do_HEAD()

            def do_GET(self):
                server.requests.append(("GET", self.path))
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                         partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path, minilm_dir):
    """A folder laid out as <org>/<name>/ (and as a Hugging Face resolve/main/ path)."""
    root = tmp_path / "www"
    hub_layout = root / "acme" / "hub-minilm" / "resolve" / "main"
    for folder in (root / "acme" / "tiny-minilm", hub_layout):
        for name in MODEL_FILES:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(minilm_dir / name, folder / name)
    with ModelServer(root) as server:
        yield server


@pytest.fixture
async def data_dir(local_models, tmp_path, monkeypatch):
    """Downloads go to a throwaway models directory; built-in models are still found."""
    folder = tmp_path / "models"
    built = local_models.models_dir
    monkeypatch.setattr(catalog, "_models_dir", folder)
    monkeypatch.setattr(catalog, "search_paths", [built])
    yield folder
    for record in catalog.records():
        if record.location.startswith("downloads"):
            catalog.remove(record.id)


async def run_graph(*tasks, **options):
    graph = TaskGraph()
    for task in tasks:
        graph.add_task(task)
    return await TaskGraphRunner(graph, **options).run()


async def test_download_by_url_then_embed_with_it(served, data_dir, minilm_dir):
    model = "onnx:acme/tiny-minilm:q8"
    wf = Workflow().download_model(model=model, url=f"{served.url}/acme/tiny-minilm/")
    wf.text_embedding(text="A man is eating food.")  # model auto-connects (format "model")
    progress: list[tuple[float, str | None]] = []
    wf.on("task_progress", lambda e: e.task_id.startswith("downloadmodel")
          and progress.append((e.progress, e.message)))
    result = await wf.run()
    vector = result.output["vector"]
    expected = onnx_local.embed(["A man is eating food."], minilm_dir)[0]
    assert max(abs(a - b) for a, b in zip(vector, expected, strict=True)) < 1e-6
    folder = data_dir / "downloads" / "acme" / "tiny-minilm"
    for name in MODEL_FILES:
        assert (folder / name).read_bytes() == (minilm_dir / name).read_bytes()
    record = await catalog.resolve(model)
    assert record.tasks == ("TextEmbedding", "TextSummary", "TextQuestionAnswer",
                            "TextClassification")  # from config.json
    total = sum((minilm_dir / name).stat().st_size for name in MODEL_FILES)
    fractions = [p for p, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    messages = [message for _, message in progress if message is not None]
    assert messages and all(m.endswith(f"/{total} bytes") for m in messages)
    assert all(path.startswith("/acme/tiny-minilm/") for _, path in served.requests)


async def test_progress_is_by_bytes_of_the_whole_folder(served, data_dir, minilm_dir):
    from taskloom.ai import DownloadModel, ModelCall, ModelRecord

    seen: list[tuple[float, str | None]] = []
    model = "onnx:acme/tiny-minilm:q8"
    given = DownloadModel.Input(model=model, url=f"{served.url}/acme/tiny-minilm")
    call = ModelCall("DownloadModel", ModelRecord(model, tasks=()), input=given,
                     models_dir=data_dir,
                     progress=lambda fraction, message=None: seen.append((fraction, message)))
    await download_module.download(call)
    total = sum((minilm_dir / name).stat().st_size for name in MODEL_FILES)
    done = [int(message.split("/")[0]) for _, message in seen]
    assert seen[0] == (0.0, f"0/{total} bytes") and seen[-1] == (1.0, f"{total}/{total} bytes")
    assert done == sorted(done) and len(set(done)) > 10  # many steps through 23 MB
    assert all(f == pytest.approx(d / total) for (f, _), d in zip(seen, done, strict=True))


async def test_a_second_download_is_served_from_the_cache(served, data_dir):
    task = {"model": "onnx:acme/tiny-minilm:q8", "url": f"{served.url}/acme/tiny-minilm"}
    await run_graph(DownloadModel("d", task))
    asked = len(served.requests)
    assert asked > 0
    await run_graph(DownloadModel("d", task))
    assert len(served.requests) == asked  # nothing fetched again
    # A damaged file makes the folder incomplete: it is fetched again.
    (data_dir / "downloads" / "acme" / "tiny-minilm" / "config.json").write_text("{}")
    await run_graph(DownloadModel("d", task))
    assert len(served.requests) > asked


async def test_a_hugging_face_style_id_uses_the_hub_address(served, data_dir, monkeypatch):
    # Point "the hub" at the local server: the URL is built from the name alone.
    monkeypatch.setattr(download_module, "HUGGING_FACE", served.url + "/{name}/resolve/main/")
    wf = Workflow().download_model(id="d", model="onnx:acme/hub-minilm:q8")
    result = await wf.text_embedding(id="e", text="hello").run()
    assert result["d"] == {"model": "onnx:acme/hub-minilm:q8"}
    assert len(result["e"]["vector"]) == 384
    assert any(p.startswith("/acme/hub-minilm/resolve/main/onnx/") for _, p in served.requests)


async def test_the_record_is_saved_in_the_store(served, data_dir, tmp_path):
    model = "onnx:acme/tiny-minilm:q8"
    async with open_store(f"sqlite:///{tmp_path}/s.db") as store:
        await run_graph(DownloadModel("d", {"model": model, "url": f"{served.url}/acme/tiny-minilm",
                                            "tasks": ["TextEmbedding"]}),
                        services={"store": store})
        stored = await store.models.get(model)
        assert stored.tasks == ("TextEmbedding",)
        assert stored.location == "downloads/acme/tiny-minilm"


async def test_a_missing_file_is_a_clear_error_and_not_retried(served, data_dir):
    (Path(served.httpd.RequestHandlerClass.keywords["directory"]) / "acme" / "tiny-minilm"
     / "tokenizer.json").unlink()
    with pytest.raises(ModelDownloadError, match=r"tokenizer\.json does not exist"):
        await run_graph(DownloadModel("d", {"model": "onnx:acme/tiny-minilm:q8",
                                            "url": f"{served.url}/acme/tiny-minilm"}))
    [job] = await queues.get("ai:onnx").list()
    assert job.deliveries == 1
    folder = data_dir / "downloads" / "acme" / "tiny-minilm"
    assert not (folder / ".taskloom-download.json").exists()
    with pytest.raises(UnknownModelError):
        await catalog.resolve("onnx:acme/tiny-minilm:q8")


async def test_a_model_that_was_never_downloaded(data_dir):
    from taskloom.ai import ModelRecord

    catalog.add(ModelRecord("onnx:acme/elsewhere:q8", tasks=("TextEmbedding",),
                            location="downloads/acme/elsewhere", dtype="q8"))
    try:
        with pytest.raises(ModelNotFoundError, match="DownloadModel"):
            await run_graph(TextEmbedding("e", {"model": "onnx:acme/elsewhere:q8",
                                                "text": "hi"}))
    finally:
        catalog.remove("onnx:acme/elsewhere:q8")


async def test_listed_files_must_stay_inside_the_folder(served, data_dir):
    from taskloom.errors import ModelInputError

    for bad in ("../escape.json", "/etc/passwd", "onnx/../../x"):
        with pytest.raises(ModelInputError, match="plain relative path"):
            await run_graph(DownloadModel("d", {"model": "onnx:acme/tiny-minilm:q8",
                                                "url": f"{served.url}/acme/tiny-minilm",
                                                "files": ["config.json", bad]}))
    assert not (data_dir.parent / "escape.json").exists()
    assert served.requests == []  # refused before anything was fetched
