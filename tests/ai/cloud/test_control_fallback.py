"""Fallback (tasks/control.py) from a failing cloud model to a local one, end to end:
the cloud alternative goes through the real SDK to the fake server, which refuses
its key; the local alternative answers."""

from __future__ import annotations

import pytest

from taskloom import Fallback, TaskGraph, TaskGraphRunner
from taskloom.ai import (
    AiTask,
    ModelCatalog,
    ModelRecord,
    ProviderRegistry,
    local,
    stop_in_process_workers,
)
from taskloom.ai.catalog import GENERATION_TASKS
from taskloom.ai.cloud import cloud_model, register
from taskloom.ai.tasks import TextGeneration
from taskloom.codegen import from_code, to_code

from .conftest import TEST_KEY
from .fake_api import OPENAI_CHAT

GPT = "openai:fake-gpt:local"
LOCAL = "shout:toy:v1"


class Shouter:
    """A local adapter: the prompt, upper-cased."""

    provider = "shout"

    def model(self, call):
        return call.record.id

    async def generate(self, model, prompt, options, on_token):
        return prompt.upper()


@pytest.fixture
async def models(api, keys_in_env, monkeypatch):
    registry = ProviderRegistry()
    catalog = ModelCatalog(records=())
    register(registry, catalog, models=[cloud_model(GPT, base_url=api.openai_url)])
    local.register(Shouter(), registry)
    catalog.add(ModelRecord(LOCAL, tasks=GENERATION_TASKS))
    monkeypatch.setattr(AiTask, "providers", registry)
    monkeypatch.setattr(AiTask, "catalog", catalog)
    yield
    await stop_in_process_workers()


def cloud_then_local() -> TaskGraph:
    cloud = TaskGraph([TextGeneration("cloud", {"model": GPT})])
    here = TaskGraph([TextGeneration("local", {"model": LOCAL})])
    return TaskGraph([Fallback([cloud, here], id="answer", defaults={"prompt": "hello"})])


async def test_a_failing_cloud_model_falls_back_to_the_local_one(models, api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY + "-revoked")
    graph = cloud_then_local()
    result = await TaskGraphRunner(graph).run()
    assert result.outputs["answer"] == {"text": "HELLO", "alternative": 1}
    assert len(api.requests_to(OPENAI_CHAT)) == 1  # the cloud was asked, and refused
    assert from_code(to_code(graph)) == graph


async def test_a_working_cloud_model_answers_first(models, api):
    result = await TaskGraphRunner(cloud_then_local()).run()
    assert result.outputs["answer"] == {"text": "echo: hello", "alternative": 0}
