import pytest


@pytest.fixture(autouse=True)
def _private_default_store(tmp_path_factory, monkeypatch):
    """CLI runs in tests record into a throwaway store, never the user's data directory."""
    folder = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("TASKLOOM_STORE", f"sqlite:///{folder}/taskloom.db")
