"""Puts the local models into the site: dist/models/<name>/ → <site>/models/<name>/.

The folders come from scripts/build-models (build/models/models.toml): it is
run here, which is a no-op when dist/models/ is already current. The site's
fingerprint covers the models' recipe (``recipe_files``), so a changed
recipe rebuilds the site; Transformers.js in the page reads the copies with
``env.localModelPath`` set to the site's ``models/`` folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .recipe import BuildError

ROOT = Path(__file__).resolve().parents[2]
RECIPE_DIR = ROOT / "build" / "models"
#: The models the page serves, by folder name in dist/models/.
SITE_MODELS = ("all-MiniLM-L6-v2", "glassllm", "lid.176", "bergamot-en-pt-tiny",
               "minilm-mediapipe")


def recipe_files() -> list[Path]:
    """What the model folders are built from, for the site's fingerprint."""
    return sorted(p for p in RECIPE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _build_models() -> dict[str, Path]:
    scripts = str(ROOT / "scripts")
    sys.path.insert(0, scripts)
    try:
        import _models
    finally:
        sys.path.remove(scripts)
    try:
        return _models.build(list(SITE_MODELS))
    except _models.BuildError as error:
        raise BuildError(f"cannot assemble the local models: {error}") from error


def add_models(site: Path) -> None:
    """Copy the built model folders into ``site/models/``."""
    target_root = site / "models"
    for name, folder in _build_models().items():
        target = target_root / name
        shutil.copytree(folder, target, dirs_exist_ok=True)  # licences and cards too
