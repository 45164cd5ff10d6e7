"""Vector search on IndexedDB in the page, beside a brute-force loop in the same worker.

The page's half of issue #14 (scripts/bench/vectors.py measures memory,
SQLite and Postgres under CPython). In one Chromium run against the built
site, inside the engine's worker:
  - upsert ``--n`` random unit vectors (``--dim`` wide, batches of 5,000, as
    vectors.py does) into ``indexeddb://bench-<uuid>`` through
    ``open_vector_store``; if the upsert runs past ``--budget`` seconds it
    stops after that batch and everything below runs at the N it reached
    (printed as such);
  - the median time of a top-``k`` search over them, and the time of one
    bare scan of the collection (what reading the records costs of it);
  - the baseline: the same top-``k`` by brute force over the same vectors
    in the same worker. The site has no numpy (build/browser.toml does not
    ship it), so the baseline is a plain JavaScript loop over one
    Float32Array (cosine, best ``k`` kept in place), called from Python;
  - whether the store's ids equal the baseline's for every query.
The database is deleted at the end. Numbers only: nothing passes or fails.

    .venv/bin/python scripts/bench/browser_vectors.py [--n 100000] [--dim 384] [--k 10]
                                                      [--queries 5] [--budget 900]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_page import ROOT, launch, run_bench, served_site

# Runs inside the page's worker (the code box). {n}, {dim}, {k}, {queries},
# {budget} are filled in.
BENCH_CODE = '''
import json
import statistics
import time
import uuid
from array import array

import js
from pydantic import BaseModel
from pyodide.code import run_js

import taskloom.browser  # noqa: F401  (registers indexeddb://)
from taskloom import Task, Workflow
from taskloom.browser import idb
from taskloom.vectors import VectorItem, open_vector_store

N, DIM, K, QUERIES, BUDGET = {n}, {dim}, {k}, {queries}, {budget}
BATCH = 5000

# Seeded vectors in one Float32Array the baseline reads directly; the store
# gets the same float32 values as Python floats.
run_js("""(n, dim, queries) => {{
    let s = 12345;
    const rand = () => {{  // mulberry32
        s = (s + 0x6D2B79F5) >>> 0;
        let t = Math.imul(s ^ (s >>> 15), s | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }};
    const gauss = () => {{
        let u = 0;
        while (u === 0) u = rand();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    }};
    const fill = (rows, unit) => {{
        const m = new Float32Array(rows * dim);
        for (let r = 0; r < rows; r++) {{
            let ss = 0;
            for (let j = 0; j < dim; j++) {{ const x = gauss(); m[r * dim + j] = x; ss += x * x; }}
            if (!unit) continue;
            const inv = 1 / Math.sqrt(ss);
            for (let j = 0; j < dim; j++) m[r * dim + j] *= inv;
        }}
        return m;
    }};
    globalThis.__vecbench = {{ matrix: fill(n, true), queries: fill(queries, false), dim }};
}}""")(N, DIM, QUERIES)

BRUTE = run_js("""(count, qi, k) => {{
    const {{ matrix, queries, dim }} = globalThis.__vecbench;
    const q = queries.subarray(qi * dim, (qi + 1) * dim);
    let qn = 0;
    for (let j = 0; j < dim; j++) qn += q[j] * q[j];
    qn = Math.sqrt(qn);
    const best = new Float64Array(k).fill(-Infinity), ids = new Int32Array(k).fill(-1);
    for (let r = 0; r < count; r++) {{
        const o = r * dim;
        let dot = 0, nn = 0;
        for (let j = 0; j < dim; j++) {{ const x = matrix[o + j]; dot += x * q[j]; nn += x * x; }}
        const norm = Math.sqrt(nn) * qn, score = norm ? dot / norm : 0;
        if (score > best[k - 1]) {{
            let i = k - 1;
            while (i > 0 && score > best[i - 1]) {{
                best[i] = best[i - 1]; ids[i] = ids[i - 1]; i--;
            }}
            best[i] = score; ids[i] = r;
        }}
    }}
    return Array.from(ids);
}}""")


def rows(start, stop, source="matrix"):
    data = getattr(js.globalThis.__vecbench, source).subarray(start * DIM, stop * DIM)
    flat = array("f", data.to_bytes()).tolist()
    return [flat[i * DIM:(i + 1) * DIM] for i in range(stop - start)]


class Bench(Task):
    class Input(BaseModel):
        n: int

    class Output(BaseModel):
        report: str

    async def run(self, input, ctx):
        name = f"bench-{{uuid.uuid4().hex}}"
        store = open_vector_store(f"indexeddb://{{name}}")
        out = {{"database": name, "asked": N, "batches": []}}
        try:
            started = time.perf_counter()
            done = 0
            while done < N:
                stop = min(done + BATCH, N)
                batch_started = time.perf_counter()
                await store.upsert("bench", [
                    VectorItem(str(done + i), vector, f"text {{done + i}}", {{"i": done + i}})
                    for i, vector in enumerate(rows(done, stop))])
                out["batches"].append(time.perf_counter() - batch_started)
                done = stop
                if time.perf_counter() - started > BUDGET:
                    break
            out["upsert_s"] = time.perf_counter() - started
            out["n"] = done
            out["count"] = await store.count("bench")

            queries = rows(0, QUERIES, "queries")
            BRUTE(done, 0, K)  # warm up the loop (the JIT)
            search, brute, agree = [], [], []
            for qi, query in enumerate(queries):
                t = time.perf_counter()
                hits = await store.search("bench", query, k=K)
                search.append(time.perf_counter() - t)
                t = time.perf_counter()
                expected = BRUTE(done, qi, K).to_py()
                brute.append(time.perf_counter() - t)
                agree.append([int(h.id) for h in hits] == expected)
            t = time.perf_counter()
            await store.kv.scan("vectors", "bench/")
            out["scan_s"] = time.perf_counter() - t
            out.update(search=search, brute=brute, agree=agree,
                       search_median=statistics.median(search),
                       brute_median=statistics.median(brute))
        finally:
            await store.close()
            js.globalThis.__vecbench = None
            await idb.request_result(js.indexedDB.deleteDatabase(name))
            out["deleted"] = name not in [
                d.name for d in await js.indexedDB.databases()]
        return {{"report": json.dumps(out)}}


wf = Workflow()
wf.add_task(Bench, id="bench", n=N)
'''


def run_in_page(browser, url: str, **settings: int | float) -> dict:
    return run_bench(browser, url, BENCH_CODE.format(**settings), cache=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--budget", type=float, default=900,
                        help="seconds of upsert after which it stops at the N reached")
    parser.add_argument("--site", type=Path, default=ROOT / "dist" / "bench-site-vectors")
    args = parser.parse_args()
    if min(args.n, args.dim, args.k, args.queries) < 1 or args.k > args.n:
        parser.error("--n, --dim, --k and --queries must be positive, and --k at most --n")
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with served_site(args.site) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        r = run_in_page(browser, url, n=args.n, dim=args.dim, k=args.k,
                        queries=args.queries, budget=args.budget)
        browser.close()
    n = r["n"]
    print(f"IndexedDB vector store in the page: {n:,} vectors of {args.dim} dimensions, "
          f"top-{args.k}, median of {args.queries} queries "
          f"({time.perf_counter() - started:.0f} s in all)")
    if n < r["asked"]:
        print(f"  NOTE: asked for {r['asked']:,}; the upsert passed --budget {args.budget:.0f} s "
              f"and stopped at {n:,} (batches of 5,000)")
    batches = r["batches"]
    print(f"  upsert            {r['upsert_s']:8.1f} s   ({n / r['upsert_s']:,.0f} vectors/s; "
          f"batch of 5,000 first {batches[0]:.1f} s, last {batches[-1]:.1f} s; "
          f"count after: {r['count']:,})")
    print(f"  search median     {r['search_median'] * 1000:9.1f} ms   (of which one bare scan "
          f"of the records: {r['scan_s'] * 1000:.1f} ms; scoring in pure Python, no numpy)")
    print(f"  baseline median   {r['brute_median'] * 1000:9.1f} ms   (JS Float32Array loop "
          f"in the same worker: the site has no numpy)")
    print(f"  ratio             {r['search_median'] / r['brute_median']:9.1f}x   "
          f"same top-{args.k} as the baseline: {all(r['agree'])} {r['agree']}")
    print(f"  database {r['database']} deleted: {r['deleted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
