#!/usr/bin/env python3
"""The reference for `fdeploy bench`: the same pp/tg shapes with Hugging Face
transformers (GGUF loaded and dequantized to f16 on CUDA), run on the GPU
machine in the same call as fdeploy, so the two can be compared as a ratio.

    python3 scripts/bench_transformers.py MODEL.gguf [--pp 512] [--tg 128] [--reps 3]
"""
import argparse
import os
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    d, f = os.path.dirname(os.path.abspath(a.model)), os.path.basename(a.model)
    if "gemma-3" in f:  # transformers' GGUF loader has no gemma3: built as the fixtures do
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from make_model_fixtures import gemma3_model
        model = gemma3_model(a.model).to(torch.bfloat16).cuda().eval()  # f16 overflows Gemma's residual
    else:
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float16).cuda().eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(100, vocab - 100, (1, a.pp), generator=g).cuda()
    pp, tg = [], []
    with torch.no_grad():
        model(ids)  # warm-up
        for _ in range(a.reps):
            torch.cuda.synchronize()
            t = time.perf_counter()
            model(ids)
            torch.cuda.synchronize()
            pp.append(a.pp / (time.perf_counter() - t))
            short = ids[:, :8]
            torch.cuda.synchronize()
            t = time.perf_counter()
            model.generate(short, max_new_tokens=a.tg, min_new_tokens=a.tg, do_sample=False)
            torch.cuda.synchronize()
            tg.append(a.tg / (time.perf_counter() - t))
    print("| impl | test | t/s |\n|---|---|---|")
    dt = str(next(model.parameters()).dtype).replace("torch.", "")
    print(f"| transformers {__import__('transformers').__version__} {dt} | pp{a.pp} | {statistics.median(pp):.1f} |")
    print(f"| transformers {__import__('transformers').__version__} {dt} | tg{a.tg} | {statistics.median(tg):.1f} |")


if __name__ == "__main__":
    main()
