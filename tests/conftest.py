import pytest

try:
    from hypothesis import settings
except ImportError:  # a bare machine: the property tests say what is missing themselves
    settings = None

if settings is not None:
    # Property tests (hypothesis) see the same examples on every run: a CI run cannot fail
    # on an example that no earlier run met, and costs what the last one did. No example
    # database: nothing is written into the working tree. `pytest --hypothesis-profile=
    # explore` draws new, and more, examples when you go looking for bugs.
    settings.register_profile("taskloom", derandomize=True, database=None, deadline=None,
                              max_examples=40, print_blob=True)
    settings.register_profile("explore", database=None, deadline=None, max_examples=400,
                              print_blob=True)
    settings.load_profile("taskloom")

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
