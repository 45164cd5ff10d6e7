"""The built local models, for the task tests that tokenize, generate or embed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from prerequisites import need_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dirs() -> dict[str, Path]:
    """scripts/build-models' folders (built once, then only checked against their pins)."""
    for module in ("numpy", "onnxruntime", "tokenizers"):
        need_module(module, f"{module} is missing: pip install 'taskloom[onnx]'")
    spec = importlib.util.spec_from_file_location("_models", ROOT / "scripts" / "_models.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.build()


@pytest.fixture
async def local_models(model_dirs, monkeypatch):
    """The default catalog reading the built models; in-process workers stopped afterwards."""
    from taskloom.ai import catalog, stop_in_process_workers

    monkeypatch.setattr(catalog, "_models_dir", model_dirs["all-MiniLM-L6-v2"].parent)
    yield catalog
    await stop_in_process_workers()


@pytest.fixture
def writes():
    """What the write hook (``file_root.use_write_hook``, the page's OPFS sync) saw, in order
    with the tasks' completions (see ``support.run_watched``): ("written", path, what the file
    held) and ("complete", id)."""
    from taskloom.tasks.file_root import use_write_hook

    seen: list[tuple] = []

    async def hook(real):
        seen.append(("written", str(real), Path(real).read_bytes() if Path(real).is_file()
                     else None))

    previous = use_write_hook(hook)
    try:
        yield seen
    finally:
        use_write_hook(previous)

