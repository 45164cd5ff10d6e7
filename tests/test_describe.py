"""registry.describe(): the JSON a palette is built from."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel

import taskloom  # noqa: F401  (the built-in types)
from taskloom import Format, Task, TaskRegistry, registry


class DescribedEmbed(Task):
    """Turns text into a vector.

    More words that are not the summary."""

    category = "ai"
    cacheable = False
    version = "3"

    class Input(BaseModel):
        text: str
        model: Annotated[str, Format("model")] = "onnx:x:q8"

    class Output(BaseModel):
        vector: Annotated[list[float], Format("vector")]


def entry(name, reg=registry):
    return next(d for d in reg.describe() if d["name"] == name)


def test_each_type_has_its_metadata_schemas_and_formats():
    item = entry("DescribedEmbed")
    assert item["type"] == "DescribedEmbed"
    assert item["method"] == "described_embed"
    assert item["category"] == "ai"
    assert item["title"] == "Described Embed"
    assert item["description"] == "Turns text into a vector."
    assert item["cacheable"] is False
    assert item["version"] == "3"
    assert item["input_schema"] == DescribedEmbed.Input.model_json_schema()
    assert item["output_schema"] == DescribedEmbed.Output.model_json_schema()
    assert item["formats"] == {"inputs": {"model": "model"}, "outputs": {"vector": "vector"}}
    assert item["open_inputs"] is False


def test_every_registered_type_is_described_as_json():
    described = registry.describe()
    names = [d["name"] for d in described]
    assert names == sorted(names) == registry.types()
    assert {"DebugLog", "Lambda", "GraphAsTask", "TextEmbedding"} <= set(names)
    text = json.dumps(described, allow_nan=False)  # what the page receives
    assert json.loads(text) == described
    assert entry("DebugLog")["open_inputs"] is True
    # A compound type's version and cacheability come from its body, per instance.
    assert entry("GraphAsTask")["version"] is None
    assert entry("TextEmbedding")["formats"]["outputs"] == {"vector": "vector"}


def test_a_registry_describes_only_its_own_types():
    own = TaskRegistry()
    own.register(DescribedEmbed)
    assert [d["name"] for d in own.describe()] == ["DescribedEmbed"]
