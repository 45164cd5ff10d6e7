"""The core's unit tests and the storage and queue contract suites, inside Pyodide.

One pytest session runs in Pyodide in Chromium (tests/browser/pyodide_harness.py)
over the suites below; the contract suites' conftests add the ``indexeddb``
backend there. Each in-Pyodide test comes back as one test here, so a failure
inside Chromium fails this run and names the test.
"""

from __future__ import annotations

import pytest

from .conftest import OfflineGuard, assert_offline, guarded_context, new_page
from .pyodide_harness import PyodideSession

pytestmark = pytest.mark.browser

SUITES = [
    "tests/test_cache.py", "tests/test_compound.py", "tests/test_graph.py",
    "tests/test_ports.py", "tests/test_public_api.py", "tests/test_registry.py",
    "tests/test_runner.py", "tests/test_task.py", "tests/test_workflow.py",
    "tests/tasks/", "tests/test_codegen.py", "tests/test_check_dataflow.py",
    "tests/test_describe.py", "tests/test_conditions.py", "tests/test_transforms.py",
    "tests/test_streams.py",
    "tests/storage/test_kv_contract.py", "tests/storage/test_graph_repository.py",
    "tests/storage/test_output_repository.py", "tests/storage/test_run_repository.py",
    "tests/queue/test_queue_storage_contract.py", "tests/queue/test_queue_limiters.py",
    "tests/browser/pyodide_suite/indexeddb_checks.py",
]

#: What cannot run in Pyodide, and why. (Whole files left out of SUITES:
#: tests/test_cli.py starts `python -m taskloom.cli` in subprocesses.)
EXCLUDED = {
    "tests/test_public_api.py::test_import_needs_no_optional_dependency":
        "starts a fresh interpreter in a subprocess; Pyodide has no processes",
    "tests/tasks/test_debug_log.py::"
    "test_twenty_megabytes_at_error_level_write_a_few_kilobytes_to_stderr":
        "measures a subprocess's stderr; Pyodide has no processes",
    "tests/test_codegen.py::test_cli_code_and_graph_round_trip":
        "the CLI needs its extra (rich, platformdirs), which the page does not ship",
    "tests/test_codegen.py::test_cli_graph_refuses_unsafe_code_with_exit_2_and_one_line":
        "the CLI needs its extra (rich, platformdirs), which the page does not ship",
    **{f"tests/test_codegen.py::test_metadata_survives_every_store[{backend}]":
       "a file or database backend; Pyodide's store is IndexedDB (its own contract suite)"
       for backend in ("file", "sqlite", "postgres")},
}


@pytest.fixture(scope="module")
def pyodide_run(browser, server):
    guard = OfflineGuard(server.origin)
    context = guarded_context(browser, guard)
    try:
        session = PyodideSession(new_page(context), server.url)
        session.copy_project()
        deselect = [arg for node in EXCLUDED for arg in ("--deselect", node)]
        run = session.pytest("-q", "-p", "no:cacheprovider", *deselect, *SUITES)
    finally:
        context.close()
    assert_offline(guard)
    return run


def test_pyodide_runs_the_suites_and_every_test_passes(pyodide_run):
    failed = pyodide_run.by_outcome("failed")
    report = "\n\n".join(f"{r['nodeid']} ({r['when']}):\n{r['longrepr']}" for r in failed)
    assert not failed, f"{len(failed)} test(s) failed inside Pyodide:\n{report}"
    assert pyodide_run.exit_code == 0
    assert len(pyodide_run.by_outcome("passed")) > 100


def test_the_contract_suites_ran_against_indexeddb_in_pyodide(pyodide_run):
    passed = [r["nodeid"] for r in pyodide_run.by_outcome("passed")]
    for suite in SUITES:
        if "/storage/" in suite or "/queue/" in suite:
            assert any(n.startswith(suite) and "indexeddb" in n for n in passed), suite
