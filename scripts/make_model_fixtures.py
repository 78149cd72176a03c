#!/usr/bin/env python3
"""Reference logits for the default model from Hugging Face transformers.

Run where torch + transformers + gguf are installed (the GPU machine):
    python3 scripts/make_model_fixtures.py models/SmolLM2-135M-Instruct.Q4_1.gguf out.json
    python3 scripts/make_model_fixtures.py models/gemma-3-270m-q4_k_m.gguf gemma3.json [ids.json]
    python3 scripts/make_model_fixtures.py models/gemma-3-270m-q4_k_m.gguf prompts.ids.json
        (the ids alone, no torch: for a transformers older than the Gemma GGUF tokenizer recipe)
Gemma 3 is built by hand: transformers' GGUF loader does not read gemma3 files, so
gguf-py dequantizes every tensor, the names are mapped to Gemma3ForCausalLM's, and
llama.cpp's (1 + w) norms get the 1 taken back off. The tokenizer is transformers'
own GGUF recipe for Gemma (as in make_tokenizer_fixtures.py), plus the <bos> Gemma
always starts with.
transformers dequantizes the GGUF weights to f32, so fdeploy (same weights)
must agree closely. For each prompt the fixture stores the token ids (HF's
tokenizer), and per position the top-32 (id, logit) pairs; plus 64 greedy
tokens for the first prompt. tests/model/test_model_logits.c reads it.
"""
import json
import os
import sys

try:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ImportError:  # the ids-only mode (gemma3 ... OUT.ids.json) needs neither
    torch = None

PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Tell me about the sea."}],
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
]
RAW = ["The quick brown fox jumps over the lazy dog. Once upon a time, in a land far away,"]


GEMMA_RAW = [
    "The capital of France is",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a land far away, there lived a small dragon who loved to read. Every night "
    "she climbed the tallest tower of the castle and opened a new book. One evening, the book she "
    "found was different from all the others: its pages were blank, and the words appeared only "
    "when she spoke them aloud. The first sentence she said was the name of her best friend, and "
    "to her surprise the page began to describe a journey across the mountains to the sea, where "
    "an old lighthouse keeper waited with a secret that had been kept for a hundred years. " * 5,
]  # the last one is longer than Gemma 3's 512-position sliding window


def gemma3_model(path):
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    r = GGUFReader(path)
    meta = lambda k: r.fields["gemma3." + k].contents()  # noqa: E731
    n_layer = meta("block_count")
    cfg = Gemma3TextConfig(
        vocab_size=len(r.fields["tokenizer.ggml.tokens"].data), hidden_size=meta("embedding_length"),
        intermediate_size=meta("feed_forward_length"), num_hidden_layers=n_layer,
        num_attention_heads=meta("attention.head_count"), num_key_value_heads=meta("attention.head_count_kv"),
        head_dim=meta("attention.key_length"), query_pre_attn_scalar=meta("attention.key_length"),
        max_position_embeddings=meta("context_length"), rms_norm_eps=meta("attention.layer_norm_rms_epsilon"),
        sliding_window=meta("attention.sliding_window"), hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True, attn_implementation="eager",
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": meta("rope.freq_base")},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    names = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "attn_norm": "input_layernorm",
             "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
             "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
             "post_ffw_norm": "post_feedforward_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    sd = {}
    for t in r.tensors:
        parts = t.name.split(".")
        if parts[0] == "blk":
            hf = "model.layers.%s.%s.weight" % (parts[1], names[parts[2]])
        else:
            hf = names[parts[0]] + ".weight"
        a = np.array(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(list(reversed(t.shape.tolist())))
        if "norm" in parts[-2]:
            a = a - 1.0  # llama.cpp stored 1 + w
        sd[hf] = torch.from_numpy(np.ascontiguousarray(a))
    model = Gemma3ForCausalLM(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    return model.float().eval()


def gemma3_tokenizer(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # noqa
    from make_tokenizer_fixtures import gemma3_reference
    return gemma3_reference(path)


def gemma3_ids(path):
    tok = gemma3_tokenizer(path)
    return [[2] + tok.encode(text, add_special_tokens=False).ids for text in GEMMA_RAW]  # <bos> first


def gemma3_main(path, out, ids_file=None):
    if ids_file:  # token ids made elsewhere (--ids), for a transformers without the GGUF recipe
        with open(ids_file) as fh:
            all_ids = json.load(fh)
    else:
        all_ids = gemma3_ids(path)
    model = gemma3_model(path)
    cases = []
    for i, (text, ids) in enumerate(zip(GEMMA_RAW, all_ids)):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        top = torch.topk(logits, 32, dim=-1)
        case = {"text": text, "ids": ids, "top_ids": top.indices.tolist(),
                "top_logits": [[round(v, 4) for v in row] for row in top.values.tolist()]}
        if i in (0, 2):
            with torch.no_grad():
                gen = model.generate(torch.tensor([ids]), max_new_tokens=64, do_sample=False)
            case["greedy"] = gen[0, len(ids):].tolist()
        cases.append(case)
    with open(out, "w") as fh:
        json.dump({"model": os.path.basename(path), "transformers": __import__("transformers").__version__,
                   "torch": torch.__version__, "cases": cases}, fh)


def main():
    path, out = sys.argv[1], sys.argv[2]
    if "gemma-3" in os.path.basename(path) and out.endswith(".ids.json"):  # tokenizer only, no torch
        with open(out, "w") as fh:
            json.dump(gemma3_ids(path), fh)
        return
    if "gemma-3" in os.path.basename(path):
        return gemma3_main(path, out, sys.argv[3] if len(sys.argv) > 3 else None)
    d, f = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in PROMPTS] + RAW
    cases = []
    for i, text in enumerate(texts):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        top = torch.topk(logits, 32, dim=-1)
        case = {"text": text, "ids": ids,
                "top_ids": top.indices.tolist(),
                "top_logits": [[round(v, 4) for v in row] for row in top.values.tolist()]}
        if i in (0, 2):  # a short answer, and a long one (code) for 64 greedy tokens
            with torch.no_grad():
                gen = model.generate(torch.tensor([ids]), max_new_tokens=64, do_sample=False)
            case["greedy"] = gen[0, len(ids):].tolist()
        cases.append(case)
    with open(out, "w") as fh:
        json.dump({"model": f, "transformers": __import__("transformers").__version__,
                   "torch": torch.__version__, "cases": cases}, fh)


if __name__ == "__main__":
    main()
