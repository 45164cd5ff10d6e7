import pytest

# The shared Postgres fixtures, and the per-test restore of the global registries.
pytest_plugins = ("postgres_server", "isolation")


@pytest.fixture(autouse=True)
def _private_default_store(tmp_path_factory, monkeypatch):
    """CLI runs in tests record into a throwaway store, never the user's data directory."""
    folder = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("TASKLOOM_STORE", f"sqlite:///{folder}/taskloom.db")


def pytest_collection_modifyitems(config, items):
    """Tests that start Playwright run last: its sync API keeps its own event
    loop running in this thread for the rest of the session, and asyncio tests
    cannot start a loop of their own after it. (Browser-folder tests that need
    no Chromium, such as test_engine's, run just before them.)"""
    items.sort(key=lambda item: ("browser" in item.path.parts,
                                 "browser" in getattr(item, "fixturenames", ())))


@pytest.fixture
def gates():
    """A fresh record of the TGate runs of this test (tests/support.py)."""
    from support import Gates, TGate

    TGate.gates = Gates()
    return TGate.gates
