"""Convert glassllm's English numpy model into an ONNX causal LM (Llama layout).

Run through scripts/convert-glassllm, which provides the build-only packages of
build/models/requirements-convert.txt. Writes build/models/glassllm/, which is
committed: config.json, generation_config.json, tokenizer.json,
tokenizer_config.json, special_tokens_map.json, onnx/model.onnx (fp32) and
onnx/model_quantized.onnx (int8), LICENSE.

The graph is written node by node with onnx.helper rather than traced from
PyTorch: glassllm is 4 blocks of RMSNorm, RoPE, grouped-query attention and
SwiGLU, and writing them directly gives exactly the interface that
Transformers.js and onnxruntime expect of a decoder with a KV cache:

    inputs   input_ids, attention_mask, position_ids   int64 [batch, seq] / [batch, total]
             past_key_values.{i}.key / .value          float32 [batch, kv_heads, past, head_dim]
    outputs  logits                                    float32 [batch, seq, vocab]
             present.{i}.key / .value                  float32 [batch, kv_heads, total, head_dim]

glassllm rotates adjacent feature pairs (2j, 2j+1); Llama's rotate_half pairs
j with j + head_dim/2. Permuting the query and key columns of each head maps
one onto the other without changing any dot product, so the folder is a
faithful LlamaForCausalLM (config.json says so) and Transformers.js runs it as
one.

Before writing anything the script checks that the tokenizer.json encodes
sample texts exactly as glassllm does and that greedy generation of both ONNX
files equals glassllm's own numpy model.
"""

from __future__ import annotations

import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import RECIPE_DIR, fetch_wheel

OUT = RECIPE_DIR / "glassllm"
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
CHUNK_REGEX = r"\n|▁*[^▁\n]+|▁+"  # glassllm.tokenizer._CHUNK
SAMPLE_TEXTS = [
    "Alice was beginning to get very tired of sitting by her sister on the bank,",
    "“Curiouser and curiouser!” cried Alice (she was so much surprised).",
    "The Queen  said,\n\n   'Off with her head!'  ",
    "Ünïcödé — e\u0301 and 🙂 are not in the alphabet; 1865 & [brackets]_{x}",
    "",
]
GREEDY_PROMPTS = ["Alice was beginning to", "The Queen said", "“Who are you?”", "Once upon a time"]
GREEDY_NEW_TOKENS = 48


def import_glassllm():
    sys.path.insert(0, str(fetch_wheel("glassllm")))  # a pure-Python wheel imports as a zip
    import glassllm

    return glassllm


# -- tokenizer --------------------------------------------------------------------


def tokenizer_json(tokenizer) -> dict:
    """glassllm's BPE as a tokenizers/Transformers.js `tokenizer.json`.

    <unk> is a plain vocabulary entry, not an added token: glassllm never
    matches the literal text "<unk>" and decodes the token as "⁇".
    """
    vocab = {token: index for index, token in enumerate(tokenizer.vocab)}
    if len(vocab) != len(tokenizer.vocab):
        raise SystemExit("glassllm's vocabulary has duplicate strings; BPE cannot express it")
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": index,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for index, token in enumerate(SPECIALS)
            if token != "<unk>"
        ],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            ],
        },
        "pre_tokenizer": {
            "type": "Split",
            "pattern": {"Regex": CHUNK_REGEX},
            "behavior": "Isolated",
            "invert": False,
        },
        "post_processor": None,
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "<unk>"}, "content": "⁇"},
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [[a, b] for a, b in tokenizer.merges],
        },
    }


# -- graph ----------------------------------------------------------------------------


class GraphBuilder:
    """Collects nodes and initializers; every helper returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, name: str | None = None, **attrs) -> str:
        self._count += 1
        output = name or f"{op_type.lower()}_{self._count}"
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=f"n{self._count}_{op_type}", **attrs
            )
        )
        return output


def rotary_permutation(n_heads: int, head_dim: int) -> np.ndarray:
    """Column order that turns glassllm's interleaved pairs into rotate_half halves."""
    half = head_dim // 2
    within = np.concatenate([np.arange(half) * 2, np.arange(half) * 2 + 1])
    return np.concatenate([head * head_dim + within for head in range(n_heads)])


def build_graph(model) -> onnx.ModelProto:
    cfg = model.cfg
    d, n_heads, n_kv = cfg.d_model, cfg.n_heads, cfg.n_kv_heads
    head_dim, repeats = d // n_heads, n_heads // n_kv
    g = GraphBuilder()
    f32 = np.float32

    def i64(name: str, *values: int) -> str:
        return g.const(name, np.array(values, dtype=np.int64))

    # rotate_half layout: cos/sin of each frequency twice, once per half.
    cos, sin = model.blocks[0].attn.cos, model.blocks[0].attn.sin  # (max_len, head_dim/2)
    g.const("rope_cos", np.concatenate([cos, cos], axis=1).astype(f32))
    g.const("rope_sin", np.concatenate([sin, sin], axis=1).astype(f32))
    g.const("embed_tokens", model.E.data.astype(f32))
    g.const("lm_head", np.ascontiguousarray(model.E.data.T).astype(f32))  # tied weights
    g.const("eps", np.array(cfg.eps, dtype=f32))
    g.const("sqrt_head_dim", np.array(np.sqrt(head_dim), dtype=f32))
    g.const("masked_score", np.array(np.finfo(f32).min, dtype=f32))
    g.const("zero_i64", np.array(0, dtype=np.int64))
    g.const("one_i64", np.array(1, dtype=np.int64))
    i64("axes_0", 0)
    i64("axes_1", 1)
    i64("axes_2", 2)
    i64("axes_1_2_3", 1, 2, 3)
    i64("split_halves", head_dim // 2, head_dim // 2)
    i64("shape_q", 0, 0, n_heads, head_dim)
    i64("shape_kv", 0, 0, n_kv, head_dim)
    i64("shape_q_groups", 0, n_kv, repeats, -1, head_dim)
    i64("shape_heads", 0, n_heads, -1, head_dim)
    i64("shape_model", 0, 0, n_heads * head_dim)

    def rms_norm(x: str, gamma: np.ndarray, prefix: str) -> str:
        weight = g.const(f"{prefix}.weight", gamma.astype(f32))
        mean_square = g.op("ReduceMean", g.op("Mul", x, x), axes=[-1], keepdims=1)
        return g.op("Mul", g.op("Div", x, g.op("Sqrt", g.op("Add", mean_square, "eps"))), weight)

    def rotate(x: str, cos_: str, sin_: str) -> str:
        first = f"{x}_first"
        second = f"{x}_second"
        g.nodes.append(
            helper.make_node(
                "Split", [x, "split_halves"], [first, second], axis=-1, name=f"split_{x}"
            )
        )
        rotated = g.op("Concat", g.op("Neg", second), first, axis=-1)
        return g.op("Add", g.op("Mul", x, cos_), g.op("Mul", rotated, sin_))

    # Positions: the caller's position_ids pick the rotary angles.
    cos_ = g.op("Unsqueeze", g.op("Gather", "rope_cos", "position_ids"), "axes_1")
    sin_ = g.op("Unsqueeze", g.op("Gather", "rope_sin", "position_ids"), "axes_1")

    # Mask [batch, 1, 1, seq, total]: a key after its query, or a padded key.
    total = g.op("Gather", g.op("Shape", "attention_mask"), "one_i64")
    seq = g.op("Gather", g.op("Shape", "input_ids"), "one_i64")
    key_index = g.op("Range", "zero_i64", total, "one_i64")
    query_index = g.op("Range", g.op("Sub", total, seq), total, "one_i64")
    future = g.op(
        "Greater", g.op("Unsqueeze", key_index, "axes_0"), g.op("Unsqueeze", query_index, "axes_1")
    )
    padded = g.op("Unsqueeze", g.op("Equal", "attention_mask", "zero_i64"), "axes_1_2_3")
    hidden_mask = g.op("Or", future, padded, name="attention_bias_mask")

    x = g.op("Gather", "embed_tokens", "input_ids")
    permutation_q = rotary_permutation(n_heads, head_dim)
    permutation_k = rotary_permutation(n_kv, head_dim)
    for i, block in enumerate(model.blocks):
        attn, ffn = block.attn, block.ffn
        p = f"model.layers.{i}"
        h = rms_norm(x, block.norm1.gamma.data, f"{p}.input_layernorm")
        wq = g.const(f"{p}.self_attn.q_proj", attn.W_Q.data[:, permutation_q].astype(f32))
        wk = g.const(f"{p}.self_attn.k_proj", attn.W_K.data[:, permutation_k].astype(f32))
        wv = g.const(f"{p}.self_attn.v_proj", attn.W_V.data.astype(f32))
        wo = g.const(f"{p}.self_attn.o_proj", attn.W_O.data.astype(f32))
        q = g.op("Transpose", g.op("Reshape", g.op("MatMul", h, wq), "shape_q"), perm=[0, 2, 1, 3])
        k = g.op("Transpose", g.op("Reshape", g.op("MatMul", h, wk), "shape_kv"), perm=[0, 2, 1, 3])
        v = g.op("Transpose", g.op("Reshape", g.op("MatMul", h, wv), "shape_kv"), perm=[0, 2, 1, 3])
        q, k = rotate(q, cos_, sin_), rotate(k, cos_, sin_)
        keys = g.op("Concat", f"past_key_values.{i}.key", k, axis=2, name=f"present.{i}.key")
        values = g.op("Concat", f"past_key_values.{i}.value", v, axis=2, name=f"present.{i}.value")
        # Grouped-query attention by broadcasting: query heads [kv, repeats] share key head kv.
        q_groups = g.op("Reshape", q, "shape_q_groups")
        keys_t = g.op("Transpose", g.op("Unsqueeze", keys, "axes_2"), perm=[0, 1, 2, 4, 3])
        scores = g.op("Div", g.op("MatMul", q_groups, keys_t), "sqrt_head_dim")
        scores = g.op("Where", hidden_mask, "masked_score", scores)
        weights = g.op("Softmax", scores, axis=-1)
        mixed = g.op("MatMul", weights, g.op("Unsqueeze", values, "axes_2"))
        mixed = g.op("Transpose", g.op("Reshape", mixed, "shape_heads"), perm=[0, 2, 1, 3])
        x = g.op("Add", x, g.op("MatMul", g.op("Reshape", mixed, "shape_model"), wo))

        h = rms_norm(x, block.norm2.gamma.data, f"{p}.post_attention_layernorm")
        w1 = g.const(f"{p}.mlp.gate_proj", ffn.W1.data.astype(f32))
        w3 = g.const(f"{p}.mlp.up_proj", ffn.W3.data.astype(f32))
        w2 = g.const(f"{p}.mlp.down_proj", ffn.W2.data.astype(f32))
        gate = g.op("MatMul", h, w1)
        act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), g.op("MatMul", h, w3))
        x = g.op("Add", x, g.op("MatMul", act, w2))

    h = rms_norm(x, model.norm_f.gamma.data, "model.norm")
    g.op("MatMul", h, "lm_head", name="logits")

    kv_shape = ["batch_size", n_kv, "past_sequence_length", head_dim]
    present_shape = ["batch_size", n_kv, "total_sequence_length", head_dim]
    inputs = [
        helper.make_tensor_value_info(
            "input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
        ),
        helper.make_tensor_value_info(
            "attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]
        ),
        helper.make_tensor_value_info(
            "position_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
        ),
    ]
    outputs = [
        helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, ["batch_size", "sequence_length", cfg.vocab_size]
        )
    ]
    for i in range(cfg.n_layers):
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{kind}", TensorProto.FLOAT, kv_shape
                )
            )
            outputs.append(
                helper.make_tensor_value_info(
                    f"present.{i}.{kind}", TensorProto.FLOAT, present_shape
                )
            )
    graph = helper.make_graph(g.nodes, "glassllm", inputs, outputs, g.initializers)
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="taskloom",
        doc_string="glassllm 0.1.0 (English) as LlamaForCausalLM; scripts/convert-glassllm",
    )
    onnx_model.ir_version = 8  # readable by older ONNX Runtime Web builds too
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def quantize_weights(fp32: onnx.ModelProto) -> onnx.ModelProto:
    """Weight-only int8: each weight matrix becomes int8 + one fp32 scale per output column.

    Activations stay fp32 (a DequantizeLinear feeds each MatMul or Gather), so
    the logits stay close to fp32; onnxruntime's quantize_dynamic also
    quantises activations and changed greedy output after a few tokens.
    """
    quantized = onnx.ModelProto()
    quantized.CopyFrom(fp32)
    graph = quantized.graph
    kept, dequantizers = [], []
    for tensor in graph.initializer:
        name = tensor.name
        if not (name.endswith("_proj") or name in ("lm_head", "embed_tokens")):
            kept.append(tensor)
            continue
        weights = numpy_helper.to_array(tensor)
        axis = 0 if name == "embed_tokens" else 1  # one scale per token / per output feature
        scale = np.abs(weights).max(axis=1 - axis) / 127.0
        scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
        shape = (-1, 1) if axis == 0 else (1, -1)
        q = np.clip(np.round(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
        kept += [
            numpy_helper.from_array(q, f"{name}_int8"),
            numpy_helper.from_array(scale, f"{name}_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{name}_zero"),
        ]
        dequantizers.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}_int8", f"{name}_scale", f"{name}_zero"],
                [name],
                axis=axis,
                name=f"dequantize_{name}",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = dequantizers + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(quantized, full_check=True)
    return quantized


# -- checks ----------------------------------------------------------------------------


def onnx_greedy(session, prompt_ids: list[int], n_new: int, cfg) -> list[int]:
    """Greedy decoding with the KV cache, the way Transformers.js drives the model."""
    head_dim = cfg.d_model // cfg.n_heads
    past = {
        f"past_key_values.{i}.{kind}": np.zeros((1, cfg.n_kv_heads, 0, head_dim), np.float32)
        for i in range(cfg.n_layers)
        for kind in ("key", "value")
    }
    ids, pending, out = list(prompt_ids), list(prompt_ids), []
    for _ in range(n_new):
        start = len(ids) - len(pending)
        feeds = {
            "input_ids": np.array([pending], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
            "position_ids": np.arange(start, len(ids), dtype=np.int64)[None, :],
            **past,
        }
        logits, *presents = session.run(None, feeds)
        token = int(np.argmax(logits[0, -1]))
        names = [o.name for o in session.get_outputs()][1:]
        past = {
            name.replace("present", "past_key_values"): value
            for name, value in zip(names, presents, strict=True)
        }
        ids.append(token)
        pending = [token]
        out.append(token)
    return out


def check(model, tokenizer, folder: Path) -> None:
    import onnxruntime
    from tokenizers import Tokenizer

    fast = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in SAMPLE_TEXTS:
        ours, theirs = fast.encode(text).ids, tokenizer.encode(text)
        if ours != theirs:
            raise SystemExit(
                f"tokenizer.json disagrees with glassllm on {text!r}:\n{ours}\n{theirs}"
            )
        decoded = fast.decode(theirs)
        if decoded != tokenizer.decode(theirs):
            raise SystemExit(f"tokenizer.json decodes {text!r} differently: {decoded!r}")
    print(f"tokenizer.json: {len(SAMPLE_TEXTS)} sample texts encode and decode as in glassllm")

    for file in ("model.onnx", "model_quantized.onnx"):
        session = onnxruntime.InferenceSession(str(folder / "onnx" / file))
        ids = tokenizer.encode(GREEDY_PROMPTS[0])
        logits = session.run(
            ["logits"],
            {
                "input_ids": np.array([ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
                "position_ids": np.arange(len(ids), dtype=np.int64)[None, :],
                **{
                    f"past_key_values.{i}.{kind}": np.zeros(
                        (1, model.cfg.n_kv_heads, 0, model.cfg.d_model // model.cfg.n_heads),
                        np.float32,
                    )
                    for i in range(model.cfg.n_layers)
                    for kind in ("key", "value")
                },
            },
        )[0]
        reference = model.forward(ids).data
        print(f"{file}: max |logit difference| vs numpy {np.abs(logits - reference).max():.2e}")
        agreement = []
        for prompt in GREEDY_PROMPTS:
            ids = tokenizer.encode(prompt)
            expected = [step.token for step in model.generate(ids, GREEDY_NEW_TOKENS, greedy=True)]
            got = onnx_greedy(session, ids, GREEDY_NEW_TOKENS, model.cfg)
            differs = [n for n, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
            same = differs[0] if differs else GREEDY_NEW_TOKENS
            agreement.append(same)
            if file == "model.onnx" and got != expected:
                raise SystemExit(
                    f"{file}: greedy output differs from glassllm for {prompt!r}:\n"
                    f"  onnx  {tokenizer.decode(got)!r}\n"
                    f"  numpy {tokenizer.decode(expected)!r}"
                )
        # int8 weights shift the logits a little, so long greedy runs may part ways.
        print(
            f"{file}: greedy tokens equal to glassllm before the first difference, "
            f"per prompt (of {GREEDY_NEW_TOKENS}): {agreement}"
        )


# -- folder -------------------------------------------------------------------------


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(model, tokenizer, wheel: Path, folder: Path) -> None:
    cfg = model.cfg
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    write_json(
        folder / "config.json",
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.d_model,
            "intermediate_size": int(8 * cfg.d_model / 3),
            "num_hidden_layers": cfg.n_layers,
            "num_attention_heads": cfg.n_heads,
            "num_key_value_heads": cfg.n_kv_heads,
            "head_dim": cfg.d_model // cfg.n_heads,
            "hidden_act": "silu",
            "max_position_embeddings": cfg.max_len,
            "rms_norm_eps": cfg.eps,
            "rope_theta": cfg.rope_base,
            "tie_word_embeddings": True,
            "attention_bias": False,
            "mlp_bias": False,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
            "use_cache": True,
            "torch_dtype": "float32",
        },
    )
    write_json(
        folder / "generation_config.json", {"bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0}
    )
    write_json(folder / "tokenizer.json", tokenizer_json(tokenizer))
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": cfg.max_len,
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
        },
    )
    write_json(
        folder / "special_tokens_map.json",
        {
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        },
    )
    with zipfile.ZipFile(wheel) as archive:
        (folder / "LICENSE").write_bytes(archive.read("glassllm-0.1.0.dist-info/licenses/LICENSE"))

    graph = build_graph(model)
    onnx.save(graph, folder / "onnx" / "model.onnx")
    onnx.save(quantize_weights(graph), folder / "onnx" / "model_quantized.onnx")


def main() -> int:
    glassllm = import_glassllm()
    model, tokenizer = glassllm.load_pretrained("en")
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "glassllm"
        write_folder(model, tokenizer, fetch_wheel("glassllm"), staged)
        check(model, tokenizer, staged)
        OUT.mkdir(parents=True, exist_ok=True)
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                target = OUT / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
                print(
                    f"wrote {target.relative_to(RECIPE_DIR.parent.parent)} "
                    f"({path.stat().st_size:,} bytes)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
