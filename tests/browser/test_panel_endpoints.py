"""The Models, Settings and Packages panels' engine logic under CPython: list_models
(taskloom.browser.model_catalog), the provider limits (cloud_limits) and the user's
wheels (packages), through BrowserEngine.call as the page calls them."""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile

import pytest

from prerequisites import missing
from taskloom.ai.catalog import ModelCatalog
from taskloom.ai.cloud.limits import DEFAULT_LIMITS, provider_queue
from taskloom.ai.providers import ProviderRegistry
from taskloom.browser import cloud_limits, model_catalog, packages
from taskloom.browser.engine import BrowserEngine
from taskloom.queue import JobQueue, QueueRegistry
from taskloom.queue.limiters import ConcurrencyLimiter, RateLimiter
from taskloom.queue.storage.memory import MemoryQueueStorage
from taskloom.storage.models import ModelRecord

from .site import ROOT

MODELS = ROOT / "dist" / "models"


def make_engine():
    events: list[dict] = []
    return BrowserEngine(emit=lambda text: events.append(json.loads(text))), events


async def call(engine, method, *args):
    return json.loads(await engine.call(method, json.dumps(list(args))))


def folder_bytes(folder, *, skip=()):
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and p.relative_to(folder).as_posix() not in skip)


# -- list_models -------------------------------------------------------------------------


async def test_list_models_has_the_shape_the_inspector_and_the_panel_read():
    engine, _ = make_engine()
    reply = await call(engine, "list_models")
    assert reply["ok"]
    by_id = {m["id"]: m for m in reply["models"]}
    for model in reply["models"]:
        assert {"id", "provider", "task", "local", "cached", "size_bytes"} <= set(model)
        assert isinstance(model["task"], list) and model["task"]
    minilm = by_id["onnx:all-MiniLM-L6-v2:q8"]
    assert minilm["local"] and minilm["provider"] == "onnx"
    assert "TextEmbedding" in minilm["task"] and "TextSummary" in minilm["task"]
    if (MODELS / "all-MiniLM-L6-v2").is_dir():
        assert minilm["cached"] is True
        assert minilm["size_bytes"] == folder_bytes(MODELS / "all-MiniLM-L6-v2")
    cloud = by_id["openai:gpt-4o-mini:api"]
    assert cloud["local"] is False and cloud["cached"] is None and cloud["key_set"] is False
    # Local models first, then cloud ones.
    locals_ = [m["local"] for m in reply["models"]]
    assert locals_ == sorted(locals_, reverse=True)


async def test_a_variant_counts_only_its_own_weights():
    glassllm = MODELS / "glassllm"
    if not (glassllm / "onnx" / "model.onnx").is_file():
        missing("dist/models/glassllm is not built (scripts/build-models)")
    engine, _ = make_engine()
    by_id = {m["id"]: m for m in (await call(engine, "list_models"))["models"]}
    assert by_id["onnx:glassllm:q8"]["size_bytes"] == folder_bytes(
        glassllm, skip={"onnx/model.onnx"})
    assert by_id["onnx:glassllm:fp32"]["size_bytes"] == folder_bytes(
        glassllm, skip={"onnx/model_quantized.onnx"})


async def test_a_cloud_model_shows_whether_its_vendor_has_a_key_never_the_key():
    engine, _ = make_engine()
    secret = "sk-panel-test-0123456789abcdef"
    assert (await call(engine, "configure_cloud", json.dumps(
        {"anthropic": {"api_key": secret, "base_url": None}})))["ok"]
    text = await engine.call("list_models", "[]")
    assert secret not in text and secret[-4:] not in text
    by_id = {m["id"]: m for m in json.loads(text)["models"]}
    assert by_id["anthropic:claude-haiku-4-5:api"]["key_set"] is True
    assert by_id["openai:gpt-4o-mini:api"]["key_set"] is False


async def test_models_without_a_run_function_or_files_are_listed_honestly(tmp_path):
    (tmp_path / "tiny" / "onnx").mkdir(parents=True)
    (tmp_path / "tiny" / "config.json").write_text("{}")
    (tmp_path / "tiny" / "onnx" / "model_quantized.onnx").write_bytes(b"x" * 10)
    catalog = ModelCatalog([
        ModelRecord("onnx:tiny:q8", tasks=("TextEmbedding",), location="tiny", dtype="q8"),
        ModelRecord("onnx:gone:q8", tasks=("TextEmbedding",), location="gone", dtype="q8"),
        ModelRecord("bergamot:en-pt:tiny", tasks=("TextTranslation",)),
    ], models_dir=tmp_path, search_paths=[])
    registry = ProviderRegistry()
    registry.register("TextEmbedding", "onnx", lambda call: None)
    models = await model_catalog.list_models(catalog, registry,
                                             model_catalog.FolderProbe(catalog))
    by_id = {m["id"]: m for m in models}
    assert "bergamot:en-pt:tiny" not in by_id  # nothing here runs it: not offered
    assert by_id["onnx:tiny:q8"] | {"task": None} == by_id["onnx:tiny:q8"] | {
        "task": None, "cached": True, "size_bytes": 12, "stored": "disk"}
    assert by_id["onnx:gone:q8"]["cached"] is False
    assert by_id["onnx:gone:q8"]["size_bytes"] is None


async def test_download_model_reports_a_bad_id_as_its_error():
    engine, events = make_engine()
    reply = await call(engine, "download_model", "not a model id", None)
    assert reply["ok"] is False and "bad model id 'not a model id'" in reply["error"]
    downloads = [e for e in events if e.get("kind") == "model_download"]
    assert downloads and all(e["progress"] is None for e in downloads)
    assert "provider:name:variant" in downloads[-1]["message"]
    assert not [e for e in events if e.get("task_id")]  # none reach the canvas


# -- provider limits ---------------------------------------------------------------------


@pytest.fixture
def shipped_limits():
    yield
    cloud_limits.reset()


async def test_limits_apply_in_place_to_a_registered_queue_and_to_later_ones(shipped_limits):
    registered = QueueRegistry()
    queue = registered.register(provider_queue("openai", MemoryQueueStorage()))
    concurrency, rate = queue.limiter.limiters
    concurrency.running = 2  # two calls hold slots now: they keep them
    described = cloud_limits.configure(
        {"openai": {"requests_per_minute": 9000, "max_concurrent": 3}}, registered)
    assert described["openai"]["requests_per_minute"] == 9000
    assert described["openai"]["default"] == {"requests_per_minute": 500, "max_concurrent": 8}
    assert described["anthropic"]["requests_per_minute"] == 50  # not given: the default
    assert queue.limiter.limiters == [concurrency, rate]  # the same objects, new bounds
    assert isinstance(concurrency, ConcurrencyLimiter) and concurrency.max_concurrent == 3
    assert concurrency.running == 2
    assert isinstance(rate, RateLimiter) and rate.max_requests == 9000
    later = provider_queue("openai", MemoryQueueStorage())
    assert later.limiter.limiters[0].max_concurrent == 3
    assert later.limiter.limiters[1].max_requests == 9000
    cloud_limits.configure({}, registered)
    assert DEFAULT_LIMITS["openai"].requests_per_minute == 500
    assert concurrency.max_concurrent == 8


async def test_a_queue_without_a_limiter_gets_one(shipped_limits):
    registered = QueueRegistry()
    queue = registered.register(JobQueue("ai:anthropic", MemoryQueueStorage()))
    cloud_limits.configure({"anthropic": {"max_concurrent": 2}}, registered)
    assert queue.limiter.limiters[0].max_concurrent == 2
    assert queue.limiter.limiters[1].max_requests == 50


@pytest.mark.parametrize(("limits", "message"), [
    ({"openai": {"requests_per_minute": 0}}, "between 1 and"),
    ({"openai": {"max_concurrent": 2.5}}, "whole number"),
    ({"openai": {"max_concurrent": True}}, "whole number"),
    ({"openai": {"max_concurrent": "4"}}, "whole number"),
    ({"openai": {"burst": 4}}, "unknown openai limit"),
    ({"mistral": {}}, "no limits for provider"),
    ([], "JSON object"),
])
async def test_bad_limits_are_refused_with_the_reason(shipped_limits, limits, message):
    engine, _ = make_engine()
    reply = await call(engine, "set_provider_limits", json.dumps(limits))
    assert reply["ok"] is False and message in reply["error"]
    assert DEFAULT_LIMITS["openai"].requests_per_minute == 500  # nothing half-applied


async def test_limits_through_the_engine(shipped_limits):
    engine, _ = make_engine()
    reply = await call(engine, "set_provider_limits",
                       json.dumps({"anthropic": {"requests_per_minute": 1000}}))
    assert reply["ok"] and reply["limits"]["anthropic"]["requests_per_minute"] == 1000
    got = await call(engine, "provider_limits")
    assert got["limits"]["anthropic"]["requests_per_minute"] == 1000
    assert got["limits"]["openai"]["max_concurrent"] == 8


# -- packages ----------------------------------------------------------------------------


def wheel(name="panelpkg", version="1.0", body="VALUE = 42\n", tag="py3-none-any") -> tuple:
    """A pure-Python wheel built by hand: what `pip wheel` makes for a one-module package."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                            "Summary: a test package\n",
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                         f"Tag: {tag}\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return f"{name}-{version}-{tag}.whl", buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def engine_with_packages(tmp_path, monkeypatch):
    engine, _ = make_engine()
    engine._packages = packages.Packages(packages.MemoryWheels(),
                                         packages.FolderInstaller(tmp_path / "site"))
    yield engine
    for name in [n for n in sys.modules if n.startswith("panelpkg")]:
        del sys.modules[name]
    if str(tmp_path / "site") in sys.path:
        sys.path.remove(str(tmp_path / "site"))


async def test_a_wheel_is_installed_kept_and_used_by_code_box_code(engine_with_packages):
    engine = engine_with_packages
    filename, data = wheel(body="def shout(text):\n    return text.upper() + '!'\n")
    reply = await call(engine, "add_package", filename, b64(data))
    assert reply["ok"], reply
    assert reply["package"] | {"size": None} == {
        "filename": filename, "name": "panelpkg", "version": "1.0", "size": None,
        "summary": "a test package", "requires": [], "state": "installed"}
    assert [p["name"] for p in reply["packages"]] == ["panelpkg"]
    code = '''
from pydantic import BaseModel
from taskloom import Task, Workflow
import panelpkg

class Shout(Task):
    class Input(BaseModel):
        text: str = "hi"
    class Output(BaseModel):
        text: str
    async def run(self, input, ctx):
        return {"text": panelpkg.shout(input.text)}

wf = Workflow()
wf.add_task(Shout, id="shout")
'''
    report = json.loads(await engine.run_code(code))
    assert report["ok"], report
    assert report["outputs"]["shout"] == {"text": "HI!"}


async def test_kept_wheels_install_again_in_a_new_engine(tmp_path):
    wheels = packages.MemoryWheels()
    filename, data = wheel(name="panelpkg_kept")
    first = packages.Packages(wheels, packages.FolderInstaller(tmp_path / "one"))
    await first.add(filename, b64(data))
    again = packages.Packages(wheels, packages.FolderInstaller(tmp_path / "two"))
    assert not (tmp_path / "two").exists()
    listed = await again.list()  # a new engine: its first list (or run) installs them
    assert [(p["name"], p["state"]) for p in listed] == [("panelpkg_kept", "installed")]
    assert (tmp_path / "two" / "panelpkg_kept" / "__init__.py").is_file()


async def test_a_new_version_replaces_the_old_one(engine_with_packages):
    engine = engine_with_packages
    await call(engine, "add_package", *_encoded(wheel(version="1.0")))
    reply = await call(engine, "add_package", *_encoded(wheel(version="2.0")))
    assert [(p["name"], p["version"]) for p in reply["packages"]] == [("panelpkg", "2.0")]
    reply = await call(engine, "remove_package", "panelpkg-2.0-py3-none-any.whl")
    assert reply["ok"] and reply["packages"] == []
    reply = await call(engine, "remove_package", "panelpkg-2.0-py3-none-any.whl")
    assert reply["ok"] is False and "no kept wheel" in reply["error"]


def _encoded(built):
    filename, data = built
    return filename, b64(data)


@pytest.mark.parametrize(("filename", "data", "message"), [
    ("numpy-2.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl", None, "only pure-Python"),
    ("notes.txt", b"hello", "is not a wheel"),
    ("broken-1.0-py3-none-any.whl", b"not a zip", "not a zip archive"),
    ("bare-1.0-py3-none-any.whl", "empty-zip", "no .dist-info/METADATA"),
])
async def test_a_bad_wheel_is_refused_with_the_reason(engine_with_packages, filename, data,
                                                      message):
    if data is None:
        data = wheel()[1]
    elif data == "empty-zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("bare/__init__.py", "")
        data = buffer.getvalue()
    reply = await call(engine_with_packages, "add_package", filename, b64(data))
    assert reply["ok"] is False and message in reply["error"]
    assert reply.get("packages", []) == []


async def test_pypi_is_refused_offline_and_bad_requirements_before_that(engine_with_packages):
    reply = await call(engine_with_packages, "install_from_pypi", "humanize==4.9.0")
    assert reply["ok"] is False and "offline" in reply["error"]
    reply = await call(engine_with_packages, "install_from_pypi", "rm -rf /")
    assert reply["ok"] is False and "not a package requirement" in reply["error"]
