#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch baseline for tests/ops/test_append_attention.c's FD_BENCH table.

Times torch.nn.functional.scaled_dot_product_attention (f16, CUDA) on the same
shapes: 32 q heads, 8 kv heads, head_dim 128. Decode: one query per sequence
over its whole K/V (batch 1/16/64, context 512/4k/16k; GQA through enable_gqa
when this torch has it, else repeat_interleave outside the timed region).
Prefill: causal self-attention of 512 and 4096 tokens, batch 1.
Prints ms, achieved GB/s of K/V read (decode) or causal TFLOP/s (prefill).
Run: python3 scripts/bench_attention_torch.py   (next to FD_BENCH=1 ./test_append_attention)
"""
import time

import torch
import torch.nn.functional as F

NQ, NKV, HD, ITERS = 32, 8, 128, 20


def sdpa(q, k, v, causal):
    try:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    except TypeError:  # torch < 2.5: expand the kv heads (done per call, like a real fallback)
        rep = q.shape[1] // k.shape[1]
        return F.scaled_dot_product_attention(
            q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), is_causal=causal)


def timed(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(ITERS):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / ITERS


def main():
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    print(f"# torch {torch.__version__} SDPA f16, {NQ} q / {NKV} kv heads, head_dim {HD} on {props.name}")
    print(f"{'kind':<8} {'batch':>6} {'ctx':>7} {'tokens':>7} {'ms':>10} {'GB/s':>10}")
    for batch in (1, 16, 64):
        for ctx in (512, 4096, 16384):
            q = torch.randn(batch, NQ, 1, HD, device=dev, dtype=torch.float16)
            k = torch.randn(batch, NKV, ctx, HD, device=dev, dtype=torch.float16)
            v = torch.randn_like(k)
            ms = timed(lambda: sdpa(q, k, v, False))
            gb = 2.0 * batch * ctx * NKV * HD * 2 / 1e9
            print(f"{'decode':<8} {batch:>6} {ctx:>7} {batch:>7} {ms:>10.4f} {gb / (ms * 1e-3):>10.1f}")
            del q, k, v
    for n in (512, 4096):
        q = torch.randn(1, NQ, n, HD, device=dev, dtype=torch.float16)
        k = torch.randn(1, NKV, n, HD, device=dev, dtype=torch.float16)
        v = torch.randn_like(k)
        ms = timed(lambda: sdpa(q, k, v, True))
        flops = 4.0 * NQ * HD * n * (n + 1) / 2
        print(f"{'prefill':<8} {1:>6} {n:>7} {n:>7} {ms:>10.4f} {flops / (ms * 1e-3) / 1e12:>10.1f} TFLOP/s (causal)")


if __name__ == "__main__":
    main()
