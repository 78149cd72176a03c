#!/usr/bin/env python3
"""Tiny random-weight models in the Hugging Face layout, and their reference logits.

    python3 scripts/make_tiny_models.py [--out tests/fixtures]
        Writes tests/fixtures/tiny-{llama,qwen2,qwen3}/: config.json, model.safetensors,
        tokenizer.json, tokenizer_config.json (qwen3: chat_template.jinja instead of
        "chat_template", as newer repos do). Needs only numpy: the safetensors file and the
        byte-level BPE tokenizer (256 byte symbols + merges learned from a fixed text +
        ChatML specials) are written directly, deterministically.
    python3 scripts/make_tiny_models.py --logits tests/fixtures/tiny_logits.json
        Needs torch + transformers (the GPU machine has them): loads each tiny model with
        AutoModelForCausalLM in float32 (an implementation independent of fdeploy), runs
        PROMPTS (fixed token ids) and writes the logits of every position.
        tests/model/test_hf_model.c compares fdeploy against it.

Every model has head_dim 64 (> hidden / heads: q_dim 256 against hidden 64), the
smallest head the GPU attention takes, so the same fixtures check the GPU runner.
The models differ to cover what the loader must handle:
    tiny-llama: F32, untied lm_head, GQA 4:2
    tiny-qwen2: BF16 (norms and q/k/v biases converted at load), tied embeddings,
                vocab_size padded past the tokenizer's vocabulary
    tiny-qwen3: F16, q/k norms, tied embeddings
    tiny-gemma3: F32, Gemma 3 text: (1 + w) norms incl. post-norms, GELU, q/k norms,
                 sliding-window layers (window 5, rotary base 1e4) around a full one with
                 linear rope scaling, query_pre_attn_scalar != head_dim, scaled embeddings
    tiny-llama31: F16, Llama 3.1 rope scaling (rope_type llama3)
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

# Token ids (297 <|im_start|>, 298 <|im_end|>, 10 newline): the second is what the
# `tokenizers` library makes of "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
# followed by "<|im_start|>assistant\n" (test_hf_model.c checks fdeploy's tokenizer agrees).
PROMPTS = [
    [297, 117, 115, 101, 114, 10, 87, 104, 97, 116, 263, 259],
    [297, 117, 115, 262, 10, 87, 104, 97, 116, 263, 259, 288, 293, 32, 295, 265, 280, 63, 298, 10,
     297, 97, 115, 115, 260, 116, 265, 116, 10],
]

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = (
    "The capital of France is Paris. The quick brown fox jumps over the lazy dog. "
    "Once upon a time, in a land far away, there lived a system and a user and an assistant. "
    "What is the capital of the model? The answer is in the question, and the question is the answer."
)
N_MERGES = 40

MODELS = {
    "tiny-llama": dict(arch="LlamaForCausalLM", model_type="llama", dtype="F32", hidden=64, layers=2,
                       heads=4, kv_heads=2, head_dim=64, ff=128, vocab=None, tie=False,
                       rope_theta=10000.0, eps=1e-5, bias=False, qk_norm=False, seed=1),
    "tiny-qwen2": dict(arch="Qwen2ForCausalLM", model_type="qwen2", dtype="BF16", hidden=64, layers=2,
                       heads=4, kv_heads=2, head_dim=64, ff=96, vocab=320, tie=True,
                       rope_theta=1000000.0, eps=1e-6, bias=True, qk_norm=False, seed=2),
    "tiny-qwen3": dict(arch="Qwen3ForCausalLM", model_type="qwen3", dtype="F16", hidden=64, layers=2,
                       heads=4, kv_heads=2, head_dim=64, ff=96, vocab=None, tie=True,
                       rope_theta=1000000.0, eps=1e-6, bias=False, qk_norm=True, seed=3),
    "tiny-gemma3": dict(arch="Gemma3ForCausalLM", model_type="gemma3_text", dtype="F32", hidden=64, layers=3,
                        heads=4, kv_heads=2, head_dim=64, ff=96, vocab=None, tie=True,
                        rope_theta=1000000.0, eps=1e-6, bias=False, qk_norm=True, seed=4),
    "tiny-llama31": dict(arch="LlamaForCausalLM", model_type="llama", dtype="F16", hidden=64, layers=2,
                         heads=4, kv_heads=2, head_dim=64, ff=128, vocab=None, tie=False,
                         rope_theta=500000.0, eps=1e-5, bias=False, qk_norm=False, seed=5),
}
GEMMA_LAYER_TYPES = ["sliding_attention", "sliding_attention", "full_attention"]


# ---- tokenizer

def bytes_to_unicode():
    """GPT-2's map from bytes to printable code points."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(text, n_merges):
    b2u = bytes_to_unicode()
    words = {}
    for w in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", text):
        key = tuple(b2u[b] for b in w.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = learn_merges(CORPUS, N_MERGES)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = []
    for s in SPECIALS:
        added.append({"id": len(vocab), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        vocab[s] = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": byte_level, "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }
    return tok, len(vocab)


# ---- weights

def to_dtype(a, dtype):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    u = a.view(np.uint32).astype(np.uint64)  # BF16: round to nearest even
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


def write_safetensors(path, tensors, dtype):
    """tensors: {name: float32 array}; every tensor stored as `dtype`."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        data = to_dtype(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_weights(c, n_vocab):
    rng = np.random.RandomState(c["seed"])
    d, hd = c["hidden"], c["head_dim"] or c["hidden"] // c["heads"]
    q, kv = c["heads"] * hd, c["kv_heads"] * hd

    def mat(rows, cols):  # [out, in], scaled so activations stay O(1)
        return rng.randn(rows, cols).astype(np.float32) / np.sqrt(cols)

    gemma = c["model_type"] == "gemma3_text"

    def norm(n):  # Gemma stores w for x * (1 + w)
        return ((0.0 if gemma else 1.0) + 0.2 * rng.randn(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.randn(n_vocab, d).astype(np.float32), "model.norm.weight": norm(d)}
    if not c["tie"]:
        w["lm_head.weight"] = mat(n_vocab, d) * 4
    for i in range(c["layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        if gemma:
            w[p + "pre_feedforward_layernorm.weight"] = norm(d)
            w[p + "post_feedforward_layernorm.weight"] = norm(d)
        for name, rows, cols in (("q", q, d), ("k", kv, d), ("v", kv, d)):
            w[p + "self_attn.%s_proj.weight" % name] = mat(rows, cols) * 2
            if c["bias"]:
                w[p + "self_attn.%s_proj.bias" % name] = (0.5 * rng.randn(rows)).astype(np.float32)
        w[p + "self_attn.o_proj.weight"] = mat(d, q)
        if c["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "mlp.gate_proj.weight"] = mat(c["ff"], d)
        w[p + "mlp.up_proj.weight"] = mat(c["ff"], d)
        w[p + "mlp.down_proj.weight"] = mat(d, c["ff"])
    return w


def config_json(c, n_vocab, tok_vocab):
    cfg = {
        "architectures": [c["arch"]], "model_type": c["model_type"], "hidden_size": c["hidden"],
        "intermediate_size": c["ff"], "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "num_key_value_heads": c["kv_heads"], "max_position_embeddings": 256, "rope_theta": c["rope_theta"],
        "rms_norm_eps": c["eps"], "vocab_size": n_vocab, "tie_word_embeddings": c["tie"], "hidden_act": "silu",
        "torch_dtype": {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[c["dtype"]],
        "bos_token_id": tok_vocab - 3, "eos_token_id": tok_vocab - 1, "attention_dropout": 0.0,
        "initializer_range": 0.02,
    }
    if c["head_dim"]:
        cfg["head_dim"] = c["head_dim"]
    if c["model_type"] == "llama":
        cfg.update(attention_bias=False, mlp_bias=False)
    if c["model_type"] == "qwen2":
        cfg.update(use_sliding_window=False, sliding_window=None, max_window_layers=c["layers"])
    if c["model_type"] == "qwen3":
        cfg.update(attention_bias=False, use_sliding_window=False, sliding_window=None)
    if c["model_type"] == "llama" and c["rope_theta"] == 500000.0:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    if c["model_type"] == "gemma3_text":
        del cfg["hidden_act"], cfg["rope_theta"]
        cfg.update(hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=24, sliding_window=5,
                   layer_types=GEMMA_LAYER_TYPES, final_logit_softcapping=None, attn_logit_softcapping=None,
                   attention_bias=False,
                   rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    return cfg


def write_models(out):
    tok, tok_vocab = tokenizer_json()
    for name, c in MODELS.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        n_vocab = c["vocab"] or tok_vocab
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config_json(c, n_vocab, tok_vocab), f, indent=2)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tok, f, ensure_ascii=False)
        tc = {"model_max_length": 256, "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<|endoftext|>",
              "add_bos_token": False, "clean_up_tokenization_spaces": False}
        if c["model_type"] in ("llama", "gemma3_text"):
            tc.update(bos_token="<|im_start|>", eos_token="<|im_end|>", chat_template=CHATML)
        elif c["model_type"] == "qwen2":
            tc.update(bos_token=None, eos_token="<|im_end|>", chat_template=CHATML)
        else:  # the object form of a special token, and the template in its own file
            tc.update(bos_token=None, eos_token={"content": "<|im_end|>", "lstrip": False, "normalized": False,
                                                 "rstrip": False, "single_word": False, "special": True})
            with open(os.path.join(d, "chat_template.jinja"), "w") as f:
                f.write(CHATML)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tc, f, indent=2)
        write_safetensors(os.path.join(d, "model.safetensors"), make_weights(c, n_vocab), c["dtype"])
        print("wrote", d)


# ---- reference logits (transformers)

def write_logits(out, models_dir, only=None):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    res = {"transformers": transformers.__version__, "torch": torch.__version__, "prompts": PROMPTS, "models": {}}
    for name in MODELS:
        d = os.path.join(models_dir, name)
        if only and name not in only:
            with open(out) as f:
                res["models"][name] = json.load(f)["models"][name]
            continue
        try:
            model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        except TypeError:  # transformers < 4.56
            model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
        model.eval()
        logits = []
        for ids in PROMPTS:
            with torch.no_grad():
                x = model(torch.tensor([ids])).logits[0].float()
            logits.append([[float("%.7g" % v) for v in row] for row in x.tolist()])
        res["models"][name] = {"n_vocab": model.config.vocab_size, "logits": logits}
        print(name, "ok:", type(model).__name__, "top-1 over the last prompt:", [int(t) for t in x.argmax(-1)])
    with open(out, "w") as f:
        json.dump(res, f, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"),
                    help="where the tiny-* folders go (and are read from by --logits)")
    ap.add_argument("--logits", metavar="OUT.json", help="write transformers' logits instead of the models")
    ap.add_argument("--only", nargs="*", help="with --logits: recompute these models, keep the others from OUT.json")
    a = ap.parse_args()
    if a.logits:
        write_logits(a.logits, a.out, a.only)
    else:
        write_models(a.out)


if __name__ == "__main__":
    sys.exit(main())
