"""Translation and language id in the page: through taskloom vs the raw JS engines, same page.

Prints (never asserts), in one Chromium run against the built site, from
inside the engine's worker (the code box):
  - translation, en→pt on bergamot:en-pt:tiny: sentences per second through
    taskloom (a Workflow with TextTranslation over a list: the sentences go in
    one items job, and their lines in one message to Marian) vs
    bergamot-translator's own worker driven directly (a second instance of
    translator-worker.js, same model files, all the sentences in one
    translate message: the fastest the engine goes);
  - language id on fasttext:lid.176:ftz: texts per second through taskloom
    (TextLanguageDetection over a list: items jobs of 500 texts, 32 texts per
    call into langid.js) vs fasttext.wasm.js's predict called in a loop in JS
    in the same worker, and vs the floor of any Python caller (one call into
    langid.js for all the texts, then a Python dict per answer);
  - each also through taskloom with ``queue=`` naming a queue of its own.
Every run uses texts not seen before (the queue and the output cache answer
a repeated input); rounds rotate the paths and the median counts.
Ratio = taskloom / raw, target >= 0.95.

    .venv/bin/python scripts/bench/browser_ai_text.py [--rounds 3] [--texts 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_page import ROOT, launch, run_bench, served_site

BENCH_CODE = '''
import json
import statistics
import time
from urllib.parse import urljoin

from pydantic import BaseModel
from pyodide.code import run_js
from pyodide.ffi import to_js

from taskloom import Task, Workflow
from taskloom.browser import bergamot_provider, fasttext_provider
from taskloom.browser.transformers_provider import models_url, site_url

BERGAMOT = "bergamot:en-pt:tiny"
LID = "fasttext:lid.176:ftz"
SUBJECTS = ["My sister", "The old farmer", "Our teacher", "A tired traveller", "The baker"]
VERBS = ["bought", "painted", "found", "carried", "sold"]
THINGS = ["a blue bicycle", "three fresh loaves", "an old wooden chair", "a small red boat",
          "two heavy baskets"]
PLACES = ["at the market", "near the river", "in the village", "behind the school",
          "before the storm"]
LID_WORDS = {{
    "en": "the house is near the river and we walk there every morning",
    "pt": "a casa fica perto do rio e caminhamos até lá todas as manhãs",
    "de": "das haus liegt am fluss und wir gehen jeden morgen dorthin",
    "fr": "la maison est près de la rivière et nous y marchons chaque matin",
    "es": "la casa está cerca del río y caminamos allí cada mañana",
}}


def sentences(n, salt):
    return [f"{{SUBJECTS[i % 5]}} {{VERBS[(i // 5) % 5]}} {{THINGS[(i + salt) % 5]}} "
            f"{{PLACES[(i * 3 + salt) % 5]}} on day {{salt * 100 + i}}." for i in range(n)]


def lid_texts(n, salt):
    texts = []
    for i in range(n):
        words = list(LID_WORDS.values())[i % 5].split()
        turn = (salt + i) % len(words)
        texts.append(" ".join(words[turn:] + words[:turn]) + f" {{salt}} {{i}}")  # all distinct
    return texts


RAW_BERGAMOT = run_js("""async (workerURL, files) => {{
    const worker = new Worker(workerURL);
    let serial = 0;
    const pending = new Map();
    worker.onmessage = ({{ data: {{ id, result, error }} }}) => {{
        const {{ ok, ko }} = pending.get(id);
        pending.delete(id);
        error ? ko(new Error(error.message)) : ok(result);
    }};
    const call = (name, ...args) => new Promise((ok, ko) => {{
        const id = ++serial;
        pending.set(id, {{ ok, ko }});
        worker.postMessage({{ id, name, args }});
    }});
    await call("initialize", {{ cacheSize: 0 }});
    const [model, shortlist, vocab] = await Promise.all(
        [files.model, files.shortlist, files.vocabs[0]].map(
            async (url) => (await fetch(url)).arrayBuffer()));
    await call("loadTranslationModel", {{ from: "en", to: "pt" }},
               {{ model, shortlist, vocabs: [vocab] }});
    return async (texts) => {{
        const started = performance.now();
        const out = await call("translate", {{ models: [{{ from: "en", to: "pt" }}],
            texts: texts.map((text) => ({{ text, html: false }})) }});
        return [performance.now() - started, out.map((r) => r.target.text)];
    }};
}}""")

RAW_FASTTEXT = run_js("""async (scriptURL, wasmURL, modelURL) => {{
    const fastText = await (await import(scriptURL)).default({{ locateFile: () => wasmURL }});
    const bytes = await (await fetch(modelURL)).arrayBuffer();
    fastText.FS.writeFile("/bench.ftz", new Uint8Array(bytes));
    const native = new fastText.FastText();
    native.loadModel("/bench.ftz");
    return (texts) => {{
        const started = performance.now();
        for (const text of texts) {{
            const found = native.predict(text, 1, 0.0);
            found.delete?.();
        }}
        return performance.now() - started;
    }};
}}""")


async def through_taskloom(kind, texts, queue=None):
    wf = Workflow()
    if kind == "translation":
        wf.text_translation(model=BERGAMOT, text=texts, source="en", target="pt", queue=queue)
    else:
        wf.text_language_detection(model=LID, text=texts, queue=queue)
    started = time.perf_counter()
    result = await wf.run()
    return (time.perf_counter() - started) * 1000, result.output


class Bench(Task):
    class Input(BaseModel):
        pass

    class Output(BaseModel):
        report: str

    async def run(self, input, ctx):
        adapter = bergamot_provider.BergamotJs()
        folder = bergamot_provider.BergamotFolder(bergamot_provider.folder_url(""), ())
        files = await adapter._direction(folder, "en-pt")
        translate_raw = await RAW_BERGAMOT(urljoin(site_url(), bergamot_provider.WORKER),
                                           to_js(files, dict_converter=bergamot_provider._object))
        detect_raw = await RAW_FASTTEXT(urljoin(site_url(), fasttext_provider.SCRIPT),
                                        urljoin(site_url(), fasttext_provider.WASM),
                                        fasttext_provider.model_url(""))

        async def raw(kind, texts):
            if kind == "translation":
                ms, out = (await translate_raw(to_js(texts))).to_py()
                return ms, out
            return detect_raw(to_js(texts)), None

        helper = await fasttext_provider._langid()
        script = urljoin(site_url(), fasttext_provider.SCRIPT)
        wasm = urljoin(site_url(), fasttext_provider.WASM)
        model = fasttext_provider.model_url("")

        async def python_floor(texts):
            # What any Python caller pays: one call into langid.js for all the texts, and
            # a Python dict per answer (no task, no job, no validation).
            started = time.perf_counter()
            found = (await helper.identifyMany(script, wasm, model, to_js(texts), 3)).to_py()
            [{{"language": one[0][0], "score": one[0][1],
              "languages": [{{"language": l, "score": p}} for l, p in one]}} for one in found]
            return (time.perf_counter() - started) * 1000

        results = {{}}
        same = {{}}
        for kind, n, make in (("translation", {sentences}, sentences),
                              ("language id", {texts}, lid_texts)):
            await raw(kind, make(n, 999))  # warm up every path on texts not timed again
            await through_taskloom(kind, make(n, 998))
            await through_taskloom(kind, make(n, 997), "bench:own-queue")
            times = {{"taskloom": [], "own queue": [], "raw": []}}
            if kind == "language id":
                times["python floor"] = []
            paths = list(times)
            for round in range({rounds}):
                turn = round % len(paths)
                for index, path in enumerate(paths[turn:] + paths[:turn]):
                    texts = make(n, len(paths) * round + index)  # fresh texts for every run
                    if path == "python floor":
                        ms = await python_floor(texts)
                    elif path == "raw":
                        ms, _ = await raw(kind, texts)
                    else:
                        queue = "bench:own-queue" if path == "own queue" else None
                        ms, _ = await through_taskloom(kind, texts, queue)
                    times[path].append(ms)
            results[kind] = {{path: n / (statistics.median(ms) / 1000)
                             for path, ms in times.items()}}
        # The same sentences both ways: does the page's path give the raw engine's text?
        texts = sentences(8, 12345)
        _, raw_out = await raw("translation", texts)
        _, ours = await through_taskloom("translation", texts)
        same["translation"] = sum(a == b for a, b in zip(raw_out, ours["text"])) / len(texts)
        return {{"report": json.dumps({{"rates": results, "same": same}})}}


wf = Workflow()
wf.add_task(Bench, id="bench")
'''


def run_in_page(browser, url: str, *, rounds: int, sentences: int, texts: int) -> dict:
    return run_bench(browser, url, BENCH_CODE.format(rounds=rounds, sentences=sentences,
                                                     texts=texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=32, help="sentences per translation run")
    parser.add_argument("--texts", type=int, default=1000, help="texts per language-id run")
    parser.add_argument("--site", type=Path, default=ROOT / "dist" / "bench-site-ai-text")
    parser.add_argument("--json", action="store_true", help="machine-readable numbers")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with served_site(args.site) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        found = run_in_page(browser, url, rounds=args.rounds, sentences=args.sentences,
                            texts=args.texts)
        browser.close()
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    rates = found["rates"]
    print(f"translation and language id in the page, median of {args.rounds} rounds "
          f"({time.perf_counter() - started:.0f} s in all)")
    print(f"  {'':26}{'taskloom':>10}{'raw':>10}{'ratio':>8}{'own queue':>14}{'ratio':>8}")
    for kind, unit, what in (("translation", "sentences/s", f"{args.sentences} en→pt"),
                             ("language id", "texts/s", f"{args.texts} texts")):
        row = rates[kind]
        label = f"{kind} ({what})"
        print(f"  {label:26}{row['taskloom']:10.1f}{row['raw']:10.1f}"
              f"{row['taskloom'] / row['raw']:8.2f}x{row['own queue']:14.1f}"
              f"{row['own queue'] / row['raw']:8.2f}x   {unit}, target >= 0.95x")
    floor = rates["language id"]["python floor"]
    print(f"  language id, one call from Python and a dict per text (the floor of any "
          f"Python caller): {floor:.1f} texts/s, {floor / rates['language id']['raw']:.2f}x raw;"
          f" taskloom is {rates['language id']['taskloom'] / floor:.2f}x that")
    print(f"  translations identical to the raw engine's: {found['same']['translation']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
