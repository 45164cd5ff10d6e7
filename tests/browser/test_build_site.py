"""The site build: pinned downloads, the lock it writes, the cache it keeps.

CPython only (no browser); downloads go through the shared cache in .cache/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from .site import DOWNLOAD_CACHE, ROOT, SCRIPTS

sys.path.insert(0, str(SCRIPTS))
from build_site import assemble, bundles, downloads
from build_site.lockfile import write_lock
from build_site.recipe import BuildError, load_recipe

sys.path.remove(str(SCRIPTS))

RECIPE = ROOT / "build" / "browser.toml"


@pytest.fixture(scope="module")
def recipe():
    return load_recipe(RECIPE)


@pytest.fixture(scope="module")
def wheels(recipe):
    return {w.name: downloads.fetch_wheel(w, DOWNLOAD_CACHE, recipe) for w in recipe.wheels}


def test_every_pin_has_a_sha256(recipe):
    for entry in [*recipe.npm, *recipe.wheels]:
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0, entry


def test_a_wrong_pin_fails_the_build_with_the_hash_it_found(tmp_path, recipe, wheels):
    text = RECIPE.read_text()
    good = next(w for w in recipe.wheels if w.name == "annotated_types")
    bad_recipe = tmp_path / "browser.toml"
    bad_recipe.write_text(text.replace(good.sha256, "0" * 64))
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    shutil.copy(wheels["annotated_types"], cache / "wheels" / good.file)  # cached, wrong pin

    with pytest.raises(BuildError) as caught:
        assemble.build_site(bad_recipe, tmp_path / "site", cache, log=lambda _m: None)
    message = str(caught.value)
    assert "sha256 mismatch" in message and good.file in message
    assert "0" * 64 in message and good.sha256 in message  # pinned and found
    assert not (cache / "wheels" / good.file).exists()  # the suspect file is not kept
    assert not (tmp_path / "site").exists()


def test_the_lock_names_every_wheel_with_dependencies_for_pyodide(tmp_path, wheels):
    runtime_lock = tmp_path / "runtime-lock.json"
    runtime_lock.write_text(json.dumps({"info": {"python": "3.14.2", "abi_version": "2026_0",
                                                 "arch": "wasm32", "platform": "emscripten"}}))
    folder = tmp_path / "site"
    folder.mkdir()
    copies = [Path(shutil.copy(path, folder)) for path in wheels.values()]
    lock = write_lock(copies, runtime_lock, folder / "pyodide-lock.json")
    assert json.loads((folder / "pyodide-lock.json").read_text()) == lock
    pydantic = lock["packages"]["pydantic"]
    assert pydantic["depends"] == ["annotated-types", "pydantic-core", "typing-extensions",
                                   "typing-inspection"]
    assert pydantic["imports"] == ["pydantic"]
    assert pydantic["sha256"] == downloads.sha256_of(folder / pydantic["file_name"])
    assert lock["packages"]["pydantic-core"]["file_name"].endswith(
        "pyemscripten_2026_0_wasm32.whl")
    assert lock["info"]["abi_version"] == "2026_0"


def test_the_lock_refuses_a_wheel_whose_dependency_is_not_pinned(tmp_path, wheels):
    runtime_lock = tmp_path / "runtime-lock.json"
    runtime_lock.write_text(json.dumps({"info": {"python": "3.14.2"}}))
    lone = Path(shutil.copy(wheels["pydantic"], tmp_path))
    with pytest.raises(BuildError, match="requires annotated-types, pydantic-core"):
        write_lock([lone], runtime_lock, tmp_path / "pyodide-lock.json")


def test_a_warm_rebuild_downloads_nothing(tmp_path, monkeypatch, built_site):
    def no_network(*args, **kwargs):
        raise AssertionError(f"a warm rebuild ran {args[0]!r}")

    def no_npm(command, *args, **kwargs):
        if Path(command[0]).name == "npm":
            raise AssertionError(f"a warm rebuild ran {command!r}")
        return subprocess.run(command, *args, **kwargs)  # esbuild bundles offline

    # Only the downloads are forbidden (pip/npm fetches, npm ci): the taskloom wheel may be
    # rebuilt if its sources changed since the session's build (they are being edited), and
    # esbuild runs on the installed node_modules.
    monkeypatch.setattr(downloads, "subprocess", SimpleNamespace(run=no_network))
    monkeypatch.setattr(bundles, "subprocess", SimpleNamespace(run=no_npm))
    site = assemble.build_site(RECIPE, tmp_path / "site", DOWNLOAD_CACHE, force=True,
                               log=lambda _m: None)
    manifest = json.loads((site / "site-manifest.json").read_text())
    lock = json.loads((site / "pyodide" / "pyodide-lock.json").read_text())
    assert set(lock["packages"]) >= {"taskloom", "pydantic", "pydantic-core", "networkx"}
    for entry in lock["packages"].values():
        assert manifest["files"][f"pyodide/{entry['file_name']}"] == entry["sha256"]
    assert manifest["version"] in (site / "sw.js").read_text()
    assert "index.html" in manifest["files"] and "engine.py" in manifest["files"]


def test_the_built_site_loads_nothing_from_elsewhere(built_site):
    # The pages' own sources name no outside address (PyScript's bundle does,
    # but only as defaults that the page overrides; the browser tests prove
    # none is requested).
    for name in ("index.html", "app.js", "sw.js", "engine.py"):
        text = (built_site / name).read_text()
        assert "http://" not in text and "https://" not in text, name


def test_recipe_pins_match_the_cpython_dependencies():
    # The browser runs the versions the pins name; pyproject must accept them.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].strip().lower() for dep in project["dependencies"]}
    pinned = {w.name.lower() for w in load_recipe(RECIPE).wheels}
    assert names <= pinned, f"dependencies the browser build does not pin: {names - pinned}"


def test_served_wheels_carry_bytecode_and_no_test_suites(built_site):
    import zipfile

    for wheel in (built_site / "pyodide").glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD")))
        listed = {line.split(",", 1)[0] for line in record.decode().splitlines()}
        assert not [n for n in names if "/tests/" in n], wheel.name
        assert set(names) - listed <= {n for n in names if n.endswith("RECORD")}, wheel.name
        modules = [n for n in names if n.endswith((".py", ".pyc")) and ".dist-info" not in n]
        sources = [n for n in modules if n.endswith(".py")]
        if wheel.name.startswith("taskloom-"):  # ours keeps its sources, for tracebacks
            cached = [n for n in modules if n.endswith(".cpython-314.pyc")]
            assert sources and len(cached) == len(sources)
        else:  # the others ship bytecode only, as Pyodide's own wheels do
            assert modules and not sources, wheel.name
