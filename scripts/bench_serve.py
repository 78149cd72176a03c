#!/usr/bin/env python3
"""Serving benchmark for `fdeploy serve` (or any OpenAI-compatible server), in the
spirit of vLLM's benchmarks/benchmark_serving.py. Standard library only: it runs
on a machine with no network and no extra packages.

It sends --num-prompts streamed POST /v1/completions requests (Poisson arrivals
at --request-rate, at most --concurrency in flight), and measures per request:
TTFT (time to the first chunk with text), ITL (gaps between later text chunks),
TPOT ((e2e - ttft) / (output_tokens - 1)), end-to-end latency, and the token
counts from the `usage` of the last chunk ("stream_options": {"include_usage":
true}). Prompts are random words from a built-in list, sized to about
--input-len tokens with a words-per-token ratio calibrated once at start (one
non-streamed request with max_tokens 1, reading usage.prompt_tokens); the token
totals reported are the server's own counts, not the estimate.

    build/cpu/bin/fdeploy serve --port 8000 --max-num-seqs 16 &
    python3 scripts/bench_serve.py --port 8000 --num-prompts 200 --concurrency 64 \\
        --input-len 128 --output-len 128 --json-out /tmp/bench.json --label cpu
"""

import argparse
import http.client
import json
import math
import random
import statistics
import sys
import threading
import time
from datetime import datetime

# A fixed list of common English words: with a byte-level BPE most are one token
# each (with the leading space), so prompts are cheap to size and tokenize alike.
WORDS = """
the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there one all we their been has
when who will more no if out so said what up its about into than them can only
other new some could time these two may then do first any my now such like our
over man me even most made after also did many before must through back years
where much your way well down should because each just those people how too
little state good very make world still own see men work long here get both
between life being under never day same another know while last might us great
old year off come since against go came right used take three states himself
few house use during without again place around however home small found thought
went say part once general high upon school every does got united left number
course war until always away something fact though water less public put think
almost hand enough far took head yet government system better set told nothing
night end why called didn find look going asked later point knew city next program
business give group toward young days let room president side social given present
several order national possible rather second face per among form important often
things looked early white case john become large big need four within felt along
children saw best church ever least power development light thought family
interest want members others mind country area done turned help open kind general
""".split()


def percentile(xs, p):
    """Linear-interpolated percentile (numpy's default), p in [0, 100]."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


class Client:
    def __init__(self, host, port, api_key, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def get_json(self, path):
        c = self.conn()
        try:
            c.request("GET", path, headers=self.headers)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError("GET %s: HTTP %d %s" % (path, r.status, body[:500]))
            return json.loads(body)
        finally:
            c.close()

    def post_json(self, path, payload):
        c = self.conn()
        try:
            c.request("POST", path, body=json.dumps(payload), headers=self.headers)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError("POST %s: HTTP %d %s" % (path, r.status, body[:500]))
            return json.loads(body)
        finally:
            c.close()


class Result:
    __slots__ = ("success", "error", "prompt_len", "output_len", "ttft", "itl", "latency",
                 "start", "text_len")

    def __init__(self):
        self.success, self.error = False, ""
        self.prompt_len, self.output_len = 0, 0
        self.ttft, self.latency, self.start = 0.0, 0.0, 0.0
        self.itl, self.text_len = [], 0


def stream_request(client, payload):
    """One streamed completion; returns a Result (never raises)."""
    res = Result()
    body = json.dumps(payload)
    conn = client.conn()
    st = time.perf_counter()
    res.start = st
    last = st
    usage = None
    got_done = False
    try:
        conn.request("POST", "/v1/completions", body=body, headers=client.headers)
        resp = conn.getresponse()
        if resp.status != 200:
            res.error = "HTTP %d: %s" % (resp.status, resp.read()[:300].decode("utf-8", "replace"))
            return res
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line or not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                got_done = True
                break
            now = time.perf_counter()
            obj = json.loads(data)
            if "error" in obj and obj.get("error"):
                err = obj["error"]
                res.error = "stream error: %s" % (err.get("message") if isinstance(err, dict) else err)
                continue
            if obj.get("usage"):
                usage = obj["usage"]
            text = ""
            for ch in obj.get("choices") or []:
                text += ch.get("text") or ""
            if text:
                if res.ttft == 0.0:
                    res.ttft = now - st
                else:
                    res.itl.append(now - last)
                last = now
                res.text_len += len(text)
        res.latency = time.perf_counter() - st
        if res.error:
            return res
        if not got_done:
            res.error = "stream ended without [DONE]"
        elif usage is None:
            res.error = "no usage in the last chunk"
        elif res.ttft == 0.0:
            res.error = "no text chunk"
        else:
            res.prompt_len = int(usage.get("prompt_tokens", 0))
            res.output_len = int(usage.get("completion_tokens", 0))
            res.success = True
    except Exception as e:  # noqa: BLE001 - any failure is a failed request
        res.error = "%s: %s" % (type(e).__name__, e)
        res.latency = time.perf_counter() - st
    finally:
        conn.close()
    return res


def make_prompt(rng, n_words):
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n_words)))


def calibrate(client, model, rng):
    """Words per prompt token, from the server's count for one probe prompt."""
    n = 400
    r = client.post_json("/v1/completions", {"model": model, "prompt": make_prompt(rng, n),
                                             "max_tokens": 1, "temperature": 0.0})
    pt = int(r["usage"]["prompt_tokens"])
    return n / max(1, pt), pt, n


def sample_lens(rng, base, ratio):
    lo = max(1, int(base * (1 - ratio)))
    hi = max(lo, int(base * (1 + ratio)))
    return rng.randint(lo, hi)


def run(args):
    client = Client(args.host, args.port, args.api_key, args.timeout)
    model = args.model
    if not model:
        models = client.get_json("/v1/models")
        model = models["data"][0]["id"]
    rng = random.Random(args.seed)
    wpt, probe_tokens, probe_words = calibrate(client, model, random.Random(args.seed + 1))
    print("model %s: calibration %d words -> %d prompt tokens (%.3f words/token)"
          % (model, probe_words, probe_tokens, wpt), file=sys.stderr)

    reqs = []
    for _ in range(args.num_prompts):
        in_len = sample_lens(rng, args.input_len, args.range_ratio)
        out_len = sample_lens(rng, args.output_len, args.range_ratio)
        payload = {"model": model, "prompt": make_prompt(rng, round(in_len * wpt)),
                   "max_tokens": out_len, "temperature": args.temperature, "stream": True,
                   "stream_options": {"include_usage": True}}
        if args.ignore_eos:
            payload["ignore_eos"] = True
        reqs.append((payload, out_len))

    results = [None] * len(reqs)
    sem = threading.Semaphore(args.concurrency)
    threads = []
    arr_rng = random.Random(args.seed + 2)

    def worker(i):
        try:
            results[i] = stream_request(client, reqs[i][0])
        finally:
            sem.release()

    print("sending %d requests: rate %s req/s, concurrency %d, input ~%d, output %d%s"
          % (len(reqs), args.request_rate, args.concurrency, args.input_len, args.output_len,
             " (ignore_eos)" if args.ignore_eos else ""), file=sys.stderr)
    t0 = time.perf_counter()
    next_t = t0
    for i in range(len(reqs)):
        if i > 0 and math.isfinite(args.request_rate) and args.request_rate > 0:
            next_t += arr_rng.expovariate(args.request_rate)
            d = next_t - time.perf_counter()
            if d > 0:
                time.sleep(d)
        sem.acquire()
        t = threading.Thread(target=worker, args=(i,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    duration = time.perf_counter() - t0
    return model, reqs, results, duration, (wpt, probe_words, probe_tokens)


def summarize(args, model, reqs, results, duration, calib):
    ok = [r for r in results if r.success]
    fails = [r for r in results if not r.success]
    in_tok = sum(r.prompt_len for r in ok)
    out_tok = sum(r.output_len for r in ok)
    ttfts = [r.ttft * 1e3 for r in ok]
    tpots = [(r.latency - r.ttft) * 1e3 / (r.output_len - 1) for r in ok if r.output_len > 1]
    itls = [x * 1e3 for r in ok for x in r.itl]
    e2els = [r.latency * 1e3 for r in ok]
    m = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "label": args.label, "model": model, "host": args.host, "port": args.port,
        "num_prompts": len(results), "request_rate": args.request_rate,
        "max_concurrency": args.concurrency, "input_len": args.input_len,
        "output_len": args.output_len, "range_ratio": args.range_ratio,
        "ignore_eos": args.ignore_eos, "seed": args.seed,
        "calibration": {"words_per_token": calib[0], "probe_words": calib[1],
                        "probe_tokens": calib[2]},
        "duration": duration, "completed": len(ok), "failed": len(fails),
        "total_input_tokens": in_tok, "total_output_tokens": out_tok,
        "expected_output_tokens": sum(o for (_, o), r in zip(reqs, results) if r.success),
        "request_throughput": len(ok) / duration if duration else 0.0,
        "output_throughput": out_tok / duration if duration else 0.0,
        "total_token_throughput": (in_tok + out_tok) / duration if duration else 0.0,
    }
    for name, xs in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        m["mean_%s_ms" % name] = statistics.fmean(xs) if xs else 0.0
        m["median_%s_ms" % name] = statistics.median(xs) if xs else 0.0
        m["std_%s_ms" % name] = statistics.pstdev(xs) if xs else 0.0
        for p in args.percentiles:
            m["p%s_%s_ms" % (fmt_p(p), name)] = percentile(xs, p)
    m["errors"] = [r.error for r in fails]
    return m, ttfts, tpots, itls, e2els


def fmt_p(p):
    return ("%g" % p).replace(".", "_") if p != int(p) else str(int(p))


def print_table(args, m):
    w = 50
    print("{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=w, c="="))
    if args.label:
        print("{:<40} {:<10}".format("Label:", args.label))
    rows = [
        ("Successful requests:", m["completed"]),
        ("Failed requests:", m["failed"]),
        ("Maximum request concurrency:", m["max_concurrency"]),
        ("Request rate (req/s):", m["request_rate"]),
        ("Benchmark duration (s):", "%.2f" % m["duration"]),
        ("Total input tokens:", m["total_input_tokens"]),
        ("Total generated tokens:", m["total_output_tokens"]),
        ("Request throughput (req/s):", "%.2f" % m["request_throughput"]),
        ("Output token throughput (tok/s):", "%.2f" % m["output_throughput"]),
        ("Total Token throughput (tok/s):", "%.2f" % m["total_token_throughput"]),
    ]
    for k, v in rows:
        print("{:<40} {:<10}".format(k, v))
    for name, title in (("ttft", "Time to First Token"),
                        ("tpot", "Time per Output Token (excl. 1st token)"),
                        ("itl", "Inter-token Latency"), ("e2el", "End-to-end Latency")):
        print("{s:{c}^{n}}".format(s=title, n=w, c="-"))
        print("{:<40} {:<10.2f}".format("Mean %s (ms):" % name.upper(), m["mean_%s_ms" % name]))
        print("{:<40} {:<10.2f}".format("Median %s (ms):" % name.upper(), m["median_%s_ms" % name]))
        for p in args.percentiles:
            print("{:<40} {:<10.2f}".format("P%s %s (ms):" % (fmt_p(p), name.upper()),
                                            m["p%s_%s_ms" % (fmt_p(p), name)]))
    print("=" * w)
    if m["failed"]:
        print("first errors:", file=sys.stderr)
        for e in m["errors"][:5]:
            print("  " + e, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--api-key", default="", help="sent as 'Authorization: Bearer KEY'")
    ap.add_argument("--model", default="", help="model name to send (default: first id of GET /v1/models)")
    ap.add_argument("--num-prompts", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=64, help="max requests in flight")
    ap.add_argument("--request-rate", type=float, default=float("inf"),
                    help="requests/s, Poisson arrivals; inf sends all at once")
    ap.add_argument("--input-len", type=int, default=128, help="prompt tokens (approximate)")
    ap.add_argument("--output-len", type=int, default=128, help="max_tokens per request")
    ap.add_argument("--range-ratio", type=float, default=0.0,
                    help="lengths uniform in [len*(1-r), len*(1+r)]")
    ap.add_argument("--prompt-source", choices=["random-words"], default="random-words",
                    help="random words from a built-in list, sized by a calibrated words/token ratio")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=True,
                    help="send ignore_eos so every request generates its max_tokens")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--percentiles", default="99", help="comma-separated, e.g. 50,90,99")
    ap.add_argument("--timeout", type=float, default=600.0, help="per-request socket timeout (s)")
    ap.add_argument("--json-out", default="", help="write metrics and per-request data here")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    args.percentiles = [float(p) for p in args.percentiles.split(",") if p.strip()]
    if args.num_prompts < 1 or args.concurrency < 1 or args.input_len < 1 or args.output_len < 1:
        ap.error("--num-prompts, --concurrency, --input-len and --output-len must be >= 1")
    if not 0 <= args.range_ratio < 1:
        ap.error("--range-ratio must be in [0, 1)")

    try:
        model, reqs, results, duration, calib = run(args)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        print("bench_serve: cannot reach the server at %s:%d: %s" % (args.host, args.port, e),
              file=sys.stderr)
        return 2
    m, ttfts, tpots, itls, e2els = summarize(args, model, reqs, results, duration, calib)
    print_table(args, m)
    if args.json_out:
        out = dict(m)
        out.update({"input_lens": [r.prompt_len for r in results],
                    "output_lens": [r.output_len for r in results],
                    "ttfts": [r.ttft for r in results], "itls": [r.itl for r in results],
                    "e2els": [r.latency for r in results],
                    "errors": [r.error for r in results]})
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)
        print("wrote " + args.json_out, file=sys.stderr)
    return 0 if m["completed"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
