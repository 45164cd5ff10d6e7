"""A key is redacted before any cut, and a key's prefix left at a cut is redacted too.

The server's message is padded so that the 300-character cut falls inside the key,
at every offset that leaves between one and all of its characters."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from taskloom.ai.cloud.failures import MAX_SERVER_MESSAGE
from taskloom.ai.cloud.keys import MIN_PREFIX, REDACTED, redact, shorten
from taskloom.errors import JobPermanentError

from .conftest import TEST_KEY
from .fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, Reply

#: Where the server's message begins in what the error says (its 300 characters are cut
#: first): the padding puts the cut this many characters into the key.
CUTS_INSIDE_THE_KEY = [1, 3, MIN_PREFIX, 8, 12, 15, 20, len(TEST_KEY) - 1]


def padded(cut_after: int) -> str:
    """A message whose first MAX_SERVER_MESSAGE - 1 characters end ``cut_after`` into the key."""
    pad = "p" * (MAX_SERVER_MESSAGE - 1 - cut_after)
    return f"{pad}{TEST_KEY} was used from an address we do not recognise"


def leaks(text: str) -> list[str]:
    """Every prefix of the key, MIN_PREFIX characters or more, that ``text`` contains."""
    return [TEST_KEY[:n] for n in range(MIN_PREFIX, len(TEST_KEY) + 1) if TEST_KEY[:n] in text]


@pytest.mark.parametrize("cut_after", CUTS_INSIDE_THE_KEY)
def test_shorten_redacts_before_it_cuts(cut_after):
    text = shorten(padded(cut_after), MAX_SERVER_MESSAGE, [TEST_KEY])
    assert len(text) <= MAX_SERVER_MESSAGE and text.endswith("…")
    assert leaks(text) == []


@pytest.mark.parametrize("cut", ["…", "...", ""])
def test_a_prefix_left_at_a_cut_is_redacted(cut):
    secret = "local-server-token-0123456789"  # no vendor shape: only the rule can catch it
    text = f"the server said: token {secret[:9]}{cut}"
    assert redact(text, [secret]) == f"the server said: token {REDACTED}{cut}"


def test_a_short_prefix_or_one_away_from_a_cut_stays():
    secret = "local-server-token-0123456789"
    # Three characters are too few to say anything; "local" inside a sentence is no cut.
    assert redact("ends with loc…", [secret]) == "ends with loc…"
    assert redact("a local server refused", [secret]) == "a local server refused"


@pytest.mark.parametrize("cut_after", CUTS_INSIDE_THE_KEY)
@pytest.mark.parametrize("stream", [False, True])
async def test_no_key_prefix_through_the_sdk(provider, vendor, api, stream, cut_after):
    api.script(OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES,
               Reply(400, message=padded(cut_after)))
    with pytest.raises(JobPermanentError) as caught:
        await provider.generate("hi", model="m", stream=stream)
    message = str(caught.value)
    assert "HTTP 400" in message and "ppp" in message  # the server's words did come through
    assert leaks(message) == [] and leaks(repr(caught.value)) == []


MODELS = {"openai": "openai:gpt-4o-mini:api", "anthropic": "anthropic:claude-haiku-4-5:api"}


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_no_key_prefix_in_the_cli_stderr_nor_the_run_record(tmp_path, api, vendor):
    # The CLI in a process of its own, with the vendor's default model pointed at the fake
    # server by the SDK's own environment variable.
    api.script(OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES,
               Reply(400, message=padded(8)))
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"schema_version": 1, "tasks": [
        {"id": "g", "type": "TextGeneration",
         "defaults": {"model": MODELS[vendor], "prompt": "hi"}}]}))
    db = tmp_path / "runs.db"
    env = {**os.environ, "OPENAI_API_KEY": TEST_KEY, "ANTHROPIC_API_KEY": TEST_KEY,
           "OPENAI_BASE_URL": api.openai_url, "ANTHROPIC_BASE_URL": api.anthropic_url}
    proc = subprocess.run(
        [sys.executable, "-m", "taskloom.cli", "run", str(graph), "--quiet",
         "--store", f"sqlite:///{db}"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "HTTP 400" in proc.stderr and "ppp" in proc.stderr
    assert leaks(proc.stderr) == [] and leaks(proc.stdout) == []
    connection = sqlite3.connect(db)
    try:
        dump = "\n".join(connection.iterdump())
    finally:
        connection.close()
    assert "ppp" in dump  # the error was recorded
    assert leaks(dump) == []
