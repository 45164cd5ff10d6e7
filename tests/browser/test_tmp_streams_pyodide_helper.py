import pytest

from .conftest import OfflineGuard, assert_offline, guarded_context, new_page
from .pyodide_harness import PyodideSession

pytestmark = pytest.mark.browser


def test_streams_in_pyodide(browser, server):
    guard = OfflineGuard(server.origin)
    context = guarded_context(browser, guard)
    try:
        session = PyodideSession(new_page(context), server.url)
        session.copy_project()
        run = session.pytest("-q", "-p", "no:cacheprovider", "tests/test_streams.py")
    finally:
        context.close()
    assert_offline(guard)
    failed = run.by_outcome("failed")
    assert not failed, "\n".join(f"{r['nodeid']}: {r['longrepr']}" for r in failed)
    assert len(run.by_outcome("passed")) == 13, run.by_outcome("passed")
