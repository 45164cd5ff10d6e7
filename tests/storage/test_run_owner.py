"""One owner per run, on every backend: the owner lease of storage/runs.py."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from taskloom.errors import RecordNotFoundError, RunOwnedError
from taskloom.storage.runs import RUN_OWNERS, process_owner

GRAPH = {"schema_version": 1, "tasks": [{"id": "a"}], "dataflows": []}


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_claimed_run_names_its_owner_until_released(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    lease = await store.runs.claim("r1", lease=30)
    assert lease.owner == f"{socket.gethostname()}:{process_owner().rsplit(':', 1)[1]}"
    assert lease.expires_at == clock.now + 30
    assert (await store.runs.get("r1")).owner == lease
    assert [run.owner for run in await store.runs.list()] == [lease]
    assert await store.runs.release("r1", lease) is True
    assert (await store.runs.get("r1")).owner is None


async def test_a_live_lease_is_refused_naming_the_owner_and_its_expiry(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    held = await store.runs.claim("r1", lease=30)
    clock.advance(10)
    with pytest.raises(RunOwnedError) as info:
        await store.runs.claim("r1", lease=30)
    assert info.value.owner == held.owner
    assert info.value.expires_at == held.expires_at
    message = str(info.value)
    assert f"is being run by {held.owner}" in message
    assert f"expires at {held.expires().strftime('%Y-%m-%d %H:%M:%S')} UTC (in 20 s)" in message
    assert (await store.runs.owner("r1")) == held  # unchanged


async def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    old = await store.runs.claim("r1", lease=30)
    clock.advance(30)
    new = await store.runs.claim("r1", lease=30)
    assert new.token != old.token
    with pytest.raises(RunOwnedError, match=f"lost its owner lease to {new.owner}"):
        await store.runs.renew("r1", old, lease=30)
    assert await store.runs.release("r1", old) is False  # a stale holder frees nothing
    assert await store.runs.owner("r1") == new


async def test_renewing_extends_the_lease(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    held = await store.runs.claim("r1", lease=30)
    clock.advance(20)
    renewed = await store.runs.renew("r1", held, lease=30)
    assert renewed.expires_at == clock.now + 30 and renewed.token == held.token
    clock.advance(20)  # past the first expiry, within the renewed one
    with pytest.raises(RunOwnedError):
        await store.runs.claim("r1")


async def test_take_over_claims_a_live_lease_at_once(store):
    await store.runs.create(GRAPH, run_id="r1")
    held = await store.runs.claim("r1", lease=30)
    taken = await store.runs.claim("r1", lease=30, take_over=True)
    assert await store.runs.owner("r1") == taken
    with pytest.raises(RunOwnedError):
        await store.runs.renew("r1", held)


async def test_the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    corpse = f"{socket.gethostname()}:{dead_pid()}"
    await store.backend.put(RUN_OWNERS, "r1", {"owner": corpse, "token": "t",
                                               "expires_at": clock.now + 30})
    claimed = await store.runs.claim("r1")
    assert claimed.owner == process_owner()


async def test_the_lease_of_another_host_is_trusted_until_it_expires(store, clock):
    await store.runs.create(GRAPH, run_id="r1")
    elsewhere = f"not-{socket.gethostname()}:{dead_pid()}"
    await store.backend.put(RUN_OWNERS, "r1", {"owner": elsewhere, "token": "t",
                                               "expires_at": clock.now + 30})
    with pytest.raises(RunOwnedError, match=elsewhere):
        await store.runs.claim("r1")
    clock.advance(31)
    assert (await store.runs.claim("r1")).owner == process_owner()


async def test_a_lease_of_this_process_that_no_runner_holds_is_taken_over(store, clock):
    """As after a run here whose release failed (its store was down at the end)."""
    await store.runs.create(GRAPH, run_id="r1")
    await store.backend.put(RUN_OWNERS, "r1", {"owner": process_owner(), "token": "gone",
                                               "expires_at": clock.now + 30})
    claimed = await store.runs.claim("r1")
    assert claimed.token != "gone"


async def test_of_two_concurrent_claims_exactly_one_wins(store):
    await store.runs.create(GRAPH, run_id="r1")
    outcomes = await asyncio.gather(store.runs.claim("r1"), store.runs.claim("r1"),
                                    return_exceptions=True)
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], RunOwnedError)
    assert await store.runs.owner("r1") == won[0]


async def test_a_run_created_with_a_lease_is_owned_from_the_start(store, clock):
    created = await store.runs.create(GRAPH, run_id="r1", task_ids=["a"], lease=30)
    assert created.owner is not None and created.owner.expires_at == clock.now + 30
    assert (await store.runs.get("r1")).owner == created.owner
    with pytest.raises(RunOwnedError):
        await store.runs.claim("r1")


async def test_claiming_an_unknown_run_says_which(store):
    with pytest.raises(RecordNotFoundError, match="nope"):
        await store.runs.claim("nope")


async def test_deleting_a_run_removes_its_lease(store):
    await store.runs.create(GRAPH, run_id="r1", lease=30)
    await store.runs.delete("r1")
    assert await store.backend.keys(RUN_OWNERS) == []
