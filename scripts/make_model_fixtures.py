#!/usr/bin/env python3
"""Reference logits for the default model from Hugging Face transformers.

Run where torch + transformers + gguf are installed (the GPU machine):
    python3 scripts/make_model_fixtures.py models/SmolLM2-135M-Instruct.Q4_1.gguf out.json
transformers dequantizes the GGUF weights to f32, so fdeploy (same weights)
must agree closely. For each prompt the fixture stores the token ids (HF's
tokenizer), and per position the top-32 (id, logit) pairs; plus 64 greedy
tokens for the first prompt. tests/model/test_model_logits.c reads it.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Tell me about the sea."}],
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
]
RAW = ["The quick brown fox jumps over the lazy dog. Once upon a time, in a land far away,"]


def main():
    path, out = sys.argv[1], sys.argv[2]
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
