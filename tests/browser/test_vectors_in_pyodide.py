"""The vector-store contract inside Pyodide in Chromium, IndexedDB included.

tests/vectors/ adds the ``indexeddb`` backend when it runs in Pyodide; each
in-Pyodide test comes back as one result here.
"""

from __future__ import annotations

import pytest

from .conftest import OfflineGuard, assert_offline, guarded_context, new_page
from .pyodide_harness import PyodideSession

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def vectors_run(browser, server):
    guard = OfflineGuard(server.origin)
    context = guarded_context(browser, guard)
    try:
        session = PyodideSession(new_page(context), server.url)
        session.copy_project()
        run = session.pytest("-q", "-p", "no:cacheprovider", "tests/vectors/")
    finally:
        context.close()
    assert_offline(guard)
    return run


def test_the_vector_contract_passes_against_indexeddb_in_pyodide(vectors_run):
    failed = vectors_run.by_outcome("failed")
    report = "\n\n".join(f"{r['nodeid']} ({r['when']}):\n{r['longrepr']}" for r in failed)
    assert not failed, f"{len(failed)} test(s) failed inside Pyodide:\n{report}"
    assert vectors_run.exit_code == 0
    passed = [r["nodeid"] for r in vectors_run.by_outcome("passed")]
    assert sum("[indexeddb]" in n for n in passed) >= 10, passed
