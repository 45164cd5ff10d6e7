import math

import pytest

from taskloom import MemoryOutputRepository, SerializationError, cache_key, canonical_json
from taskloom.cache import TaskOutputRepository


def test_canonical_json_is_order_independent_and_compact():
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert cache_key("T", "1", {"a": 1, "b": 2}) == cache_key("T", "1", {"b": 2, "a": 1})
    assert cache_key("T", "1", {"a": 1}) != cache_key("T", "2", {"a": 1})
    assert cache_key("T", "1", {"a": 1}).startswith("T:1:")


def test_nan_cannot_be_a_key():
    with pytest.raises(SerializationError):
        canonical_json({"x": math.nan})


async def test_memory_repository():
    repo = MemoryOutputRepository()
    assert isinstance(repo, TaskOutputRepository)
    await repo.put_output("k", {"x": 1})
    assert await repo.get_output("k") == {"x": 1}
    assert await repo.get_output("missing") is None
    assert await repo.count() == 1 and await repo.size() == len('{"x":1}')
    assert await repo.clear_older_than(3600) == 0
    assert await repo.clear_older_than(-1) == 1
    await repo.put_output("k", {"x": 1})
    await repo.clear()
    assert await repo.count() == 0
