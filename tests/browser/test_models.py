"""Local models in the page: Transformers.js in the engine's worker, offline, as CPython computes.

Every graph runs through the page's engine (the code box's ``run_code``),
so each model call is a job on the worker's ``ai:onnx`` queue. The CPython
reference is ``taskloom.ai.onnx_local`` on the same folders (dist/models/,
which the site build assembles). All tests share one page start-up; the
shared page's guard fails any test whose page asked anything of another
host.
"""

from __future__ import annotations

import json
import math
import time

import pytest

from prerequisites import need_module

from .conftest import new_page, open_app
from .site import ROOT, RUN_MS

pytestmark = pytest.mark.browser

for _module in ("numpy", "onnxruntime", "tokenizers"):
    need_module(_module, f"{_module} is missing: pip install 'taskloom[onnx]' "
                         "(the CPython reference for the browser's numbers)")

from taskloom.ai import onnx_local  # noqa: E402
from taskloom.ai.local import rewrite_prompt  # noqa: E402

MINILM = "onnx:all-MiniLM-L6-v2:q8"
GLASSLLM = "onnx:glassllm:fp32"
GLASSLLM_Q8 = "onnx:glassllm:q8"
MINILM_DIR = ROOT / "dist" / "models" / "all-MiniLM-L6-v2"
GLASSLLM_DIR = ROOT / "dist" / "models" / "glassllm"
REFERENCE = json.loads((ROOT / "tests" / "ai" / "transformers_js_reference.json").read_text())

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "hello world",
]
CONTEXT = ("The sky was grey over the harbour. A fisherman mended his nets on the pier. "
           "Gulls circled the boats, crying for scraps. By noon the rain had started.")


def run_graph(page, code: str) -> dict:
    """Runs ``code`` through the page's engine; answers its report (events in ``events``)."""
    page.evaluate("window.taskloom.events = []")
    report = page.evaluate(
        "code => window.taskloom.engine.request('run_code', code)", code)
    report["events"] = page.evaluate("window.taskloom.events")
    return report


def graph(*lines: str) -> str:
    return "\n".join(["from taskloom import Workflow", "from taskloom.ai import *",
                      "wf = Workflow()", *lines])


def completed(report: dict) -> dict:
    assert report["ok"], report.get("traceback") or report.get("error")
    return report["outputs"]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b))


def test_embeddings_agree_with_cpython_and_rank_a_similar_pair_higher(app):
    outputs = completed(run_graph(app, graph(
        f"wf.text_embedding(id='embed', model={MINILM!r}, text={SENTENCES!r})",
        "wf.similarity(id='compare')",
    )))
    browser = outputs["embed"]["vector"]
    cpython = onnx_local.embed(SENTENCES, MINILM_DIR)
    assert len(browser) == len(SENTENCES) and len(browser[0]) == 384
    worst = max(abs(a - b) for u, v in zip(browser, cpython, strict=True)
                for a, b in zip(u, v, strict=True))
    assert worst < 1e-4
    for text, head in REFERENCE["embeddings"].items():
        vector = browser[SENTENCES.index(text)]
        assert vector[:5] == pytest.approx(head, abs=1e-4)
    matrix = outputs["compare"]["matrix"]
    assert matrix[0][1] > 0.5 > matrix[0][2]  # eating/eating vs eating/carrying a baby
    assert outputs["compare"]["score"] == pytest.approx(cosine(browser[0], browser[1]), abs=1e-9)


def test_greedy_generation_is_deterministic_and_equals_cpython_in_fp32(app):
    prompt = "Alice was beginning to"
    code = graph(f"wf.text_generation(id='gen', model={GLASSLLM!r}, prompt={prompt!r}, "
                 "max_new_tokens=48)")
    first = run_graph(app, code)
    second = run_graph(app, code)
    text = completed(first)["gen"]["text"]
    assert completed(second)["gen"]["text"] == text
    assert text == onnx_local.generate(prompt, GLASSLLM_DIR, 48, dtype="fp32")
    assert text == REFERENCE["generations"]["fp32"][prompt]
    # Progress counts tokens while they come (the worker coalesces its reports).
    counts = [int(e["message"].split("/")[0]) for e in first["events"]
              if e["kind"] == "task_progress" and e.get("task_id") == "gen"
              and (e.get("message") or "").endswith("/48 tokens")]
    assert counts == sorted(counts) and 0 < counts[0] < 48


def test_generation_past_the_context_slides_its_window_like_cpython(app):
    # 9 prompt tokens + 140 new ones run past glassllm's 128-token context.
    prompt = "Alice was beginning to get very tired"
    outputs = completed(run_graph(app, graph(
        f"wf.text_generation(id='gen', model={GLASSLLM!r}, prompt={prompt!r}, "
        "max_new_tokens=140)")))
    assert outputs["gen"]["text"] == onnx_local.generate(prompt, GLASSLLM_DIR, 140,
                                                         dtype="fp32")


def test_array_expansion_runs_two_models_times_two_prompts(app):
    prompts = ["The Queen said", "Alice"]
    outputs = completed(run_graph(app, graph(
        f"wf.text_generation(id='gen', model={[GLASSLLM, GLASSLLM_Q8]!r}, "
        f"prompt={prompts!r}, max_new_tokens=8)")))
    texts = outputs["gen"]["text"]
    assert len(texts) == 4 and all(texts)
    fp32 = [onnx_local.generate(p, GLASSLLM_DIR, 8, dtype="fp32") for p in prompts]
    assert texts[:2] == fp32  # model-major: (fp32, p1), (fp32, p2), (q8, p1), (q8, p2)


def test_rewriter_summary_and_answer_match_cpython(app):
    text = "The Queen said that the Hatter must be beheaded."
    outputs = completed(run_graph(app, graph(
        f"wf.add_task(TextRewriter, id='rewrite', model={GLASSLLM!r}, "
        f"prompt='Tell it simply:', text={text!r}, max_new_tokens=16)",
        f"wf.add_task(TextSummary, id='summary', model={MINILM!r}, text={CONTEXT!r}, "
        "sentences=2)",
        f"wf.add_task(TextQuestionAnswer, id='answer', model={MINILM!r}, "
        f"question='What was the fisherman doing?', context={CONTEXT!r})",
    )))
    assert outputs["rewrite"]["text"] == onnx_local.generate(
        rewrite_prompt("Tell it simply:", text), GLASSLLM_DIR, 16, dtype="fp32")
    assert outputs["summary"]["text"] == onnx_local.summarize(CONTEXT, MINILM_DIR, 2)
    expected = onnx_local.answer("What was the fisherman doing?", CONTEXT, MINILM_DIR)
    assert outputs["answer"]["answer"] == expected.text == \
        "A fisherman mended his nets on the pier."
    assert outputs["answer"]["score"] == pytest.approx(expected.score, abs=1e-4)


def test_examples_menu_runs_the_design_pipeline(app):
    names = app.evaluate("Object.keys(window.taskloom.examples)")
    pipeline = next(name for name in names if name.startswith("Document"))
    app.click(f'#examples [data-example="{pipeline}"]')
    # Graph code: it opens on the canvas, one node per task.
    for task_id in ("split", "rewrite", "embed", "compare"):
        app.wait_for_selector(f'#canvas [data-task-id="{task_id}"]', timeout=RUN_MS)
    assert app.get_attribute("body", "data-document-mode") == "graph"
    assert "wf.document_splitter(" in app.evaluate("window.taskloom.codeText()")
    app.click("#run")
    app.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                          state="attached", timeout=RUN_MS)
    report = app.evaluate("window.taskloom.lastRun")
    outputs = completed(report)
    assert len(outputs["rewrite"]["text"]) == 6  # three paragraphs x two prompts
    assert len(outputs["embed"]["vector"]) == 6
    matrix = outputs["compare"]["matrix"]
    assert len(matrix) == 6 and all(row[i] == pytest.approx(1.0) for i, row in enumerate(matrix))


@pytest.mark.parametrize("example", [
    "Embed and compare sentences", "Generate text", "Rewrite a text with two prompts",
    "Summarise a text", "Answer a question", "Download a model, then use it",
])
def test_every_ai_example_runs_offline(app, example):
    completed(run_graph(app, app.evaluate("name => window.taskloom.examples[name]", example)))


def test_abort_stops_a_generation_between_tokens(app, server):
    code = graph(f"wf.text_generation(id='gen', model={GLASSLLM!r}, prompt='Alice', "
                 "max_new_tokens=100000)")
    app.evaluate("window.taskloom.events = []")
    app.evaluate("code => { window.longRun = window.taskloom.engine.request('run_code', code); }",
                 code)
    app.wait_for_function(
        "window.taskloom.events.some(e => e.kind === 'task_progress' && e.task_id === 'gen' "
        "&& e.progress > 0)", timeout=RUN_MS)
    app.evaluate("window.taskloom.engine.request('abort_run')")
    report = app.evaluate("window.longRun")
    assert not report["ok"]
    assert report["statuses"]["gen"] == "aborted"
    # Transformers.js itself stopped (at its next token), not only the job.
    probe = f"import({server.url + 'models.js'!r}).then((m) => m.generations())"
    engine_worker = next(w for w in app.workers if w.evaluate(probe)["started"] > 0)
    deadline = time.monotonic() + RUN_MS / 1000  # only stops a hang
    while engine_worker.evaluate(probe)["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine_worker.evaluate(probe)["running"] == 0
    # The worker is free again, and the interrupted generation left nothing behind.
    again = completed(run_graph(app, graph(
        f"wf.text_generation(id='gen', model={GLASSLLM!r}, prompt='Alice', max_new_tokens=12)")))
    assert again["gen"]["text"] == onnx_local.generate("Alice", GLASSLLM_DIR, 12, dtype="fp32")


@pytest.mark.parametrize(("line", "error"), [
    ("wf.text_embedding(model='onnx:no-such-model:q8', text='hi')", "UnknownModelError"),
    (f"wf.text_generation(model={MINILM!r}, prompt='hi')", "ModelTaskError"),
    (f"wf.text_embedding(model={MINILM!r}, text='   ')", "ModelInputError"),
    (f"wf.text_embedding(model={MINILM!r}, text='word ' * 600)", "ContextLengthError"),
    (f"wf.text_generation(model={GLASSLLM!r}, prompt='Alice ' * 200)", "ContextLengthError"),
])
def test_bad_input_fails_with_a_clear_error(app, line, error):
    report = run_graph(app, graph(line))
    assert not report["ok"]
    assert error in report["traceback"], report["error"]


def test_over_long_text_is_truncated_when_asked(app):
    text = "word " * 600
    outputs = completed(run_graph(app, graph(
        f"wf.text_embedding(id='embed', model={MINILM!r}, text={text!r}, truncate=True)")))
    with pytest.warns(onnx_local.ContextTruncatedWarning):
        cpython = onnx_local.embed([text], MINILM_DIR, truncate=True)[0]
    assert max(abs(a - b) for a, b in zip(outputs["embed"]["vector"], cpython,
                                          strict=True)) < 1e-4


def test_download_model_fills_cache_storage_with_progress_by_bytes(app, server):
    model = "onnx:served/minilm-copy:q8"
    url = server.url + "models/all-MiniLM-L6-v2/"  # the local server serving a model folder
    report = run_graph(app, graph(
        f"wf.download_model(id='download', model={model!r}, url={url!r})",
        "wf.text_embedding(id='embed', text='A man is eating food.')",
    ))
    outputs = completed(report)
    assert outputs["download"]["model"] == model
    assert outputs["embed"]["vector"][:5] == pytest.approx(
        REFERENCE["embeddings"]["A man is eating food."], abs=1e-4)
    byte_messages = [e["message"] for e in report["events"]
                     if e.get("task_id") == "download" and (e.get("message") or "")
                     .endswith(" bytes")]
    done = [int(m.split("/")[0]) for m in byte_messages]
    total = int(byte_messages[-1].split("/")[1].split()[0])
    fetched = ["config.json", "tokenizer.json", "onnx/model_quantized.onnx",
               "tokenizer_config.json", "special_tokens_map.json"]  # + generation_config: 404
    assert total == sum((MINILM_DIR / name).stat().st_size for name in fetched)
    # Progress counts bytes from 0 to the folder's total; the last step is stored before
    # the job completes, so it always reaches the page. (How many steps in between do
    # depends on when the job's waiter looks at the queue: not asserted.)
    assert done == sorted(done) and done[0] == 0 and done[-1] == total
    stored = app.evaluate("""async () => {
        const cache = await caches.open('taskloom-models');
        return (await cache.keys()).map((request) => request.url); }""")
    assert server.url + "models/served/minilm-copy/onnx/model_quantized.onnx" in stored

    again = run_graph(app, graph(f"wf.download_model(id='download', model={model!r}, "
                                 f"url={url!r})"))
    completed(again)
    assert "cached" in [e.get("message") for e in again["events"]
                        if e.get("task_id") == "download"]

    # Another visit (a new engine, same origin) finds the download in Cache Storage.
    later = open_app(new_page(app.context), server.url)
    try:
        vector = completed(run_graph(later, graph(
            f"wf.text_embedding(id='embed', model={model!r}, text='A man is eating food.')",
        )))["embed"]["vector"]
    finally:
        later.close()
    assert vector == outputs["embed"]["vector"]


def test_download_of_a_missing_folder_fails_clearly(app, server):
    report = run_graph(app, graph(
        "wf.download_model(model='onnx:nowhere/model:q8', "
        f"url={server.url + 'models/no-such-folder/'!r})"))
    assert not report["ok"]
    assert "ModelDownloadError" in report["traceback"]
    assert "does not exist (404)" in report["error"]
