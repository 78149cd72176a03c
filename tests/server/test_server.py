# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `fdeploy serve`: a real server process on 127.0.0.1 with the
default model on the CPU, driven by the official `openai` client and by raw HTTP.

    pip install -r tests/server/requirements.txt
    FDEPLOY_BIN=build/srv-rel/bin/fdeploy python3 -m unittest -v tests/server/test_server.py

FDEPLOY_BIN: the fdeploy program (default: the first of build/{srv-rel,rel,cpu}/bin/fdeploy).
FDEPLOY_MODEL: the model (default: models/SmolLM2-135M-Instruct.Q4_1.gguf).
Skips (exit 0 with "skipped") when the program or the model is missing.
"""
import concurrent.futures as cf
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import openai
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.environ.get("FDEPLOY_MODEL") or os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL_ID = os.path.splitext(os.path.basename(MODEL))[0]
THREADS = os.environ.get("FDEPLOY_THREADS", "2")
MAX_MODEL_LEN = 512


def find_bin():
    env = os.environ.get("FDEPLOY_BIN")
    if env:
        return env
    for d in ("srv-rel", "rel", "release", "cpu"):
        p = os.path.join(ROOT, "build", d, "bin", "fdeploy")
        if os.access(p, os.X_OK):
            return p
    return None


BIN = find_bin()


class Server:
    """One `fdeploy serve --port 0` process; the URL is read from its first line."""

    def __init__(self, *args, wait=True):
        self.log = open(os.path.join("/tmp", "fdeploy-serve-%d-%d.log" % (os.getpid(), id(self))), "w+")
        cmd = [BIN, "serve", "-m", MODEL, "--port", "0", "-t", THREADS] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        line = self.proc.stdout.readline()  # blocks until the server prints its URL or exits
        m = re.search(r"http://([\w.\[\]:]+):(\d+)", line or "")
        if not m:
            self.proc.wait(timeout=timeout)
            raise RuntimeError("server did not start: %r\n%s" % (line, self.stderr()))
        self.url = "http://127.0.0.1:%s" % m.group(2)
        self.port = int(m.group(2))

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def client(self, key="none"):
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=120)

    def metrics(self):
        text = requests.get(self.url + "/metrics", timeout=10).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        if self.proc.returncode == 0:
            os.unlink(self.log.name)
        return self.proc.returncode


SRV = None


def setUpModule():
    global SRV
    if not BIN or not os.access(BIN, os.X_OK):
        raise unittest.SkipTest("skipped: no fdeploy program (build it, or set FDEPLOY_BIN)")
    if not os.path.exists(MODEL):
        raise unittest.SkipTest("skipped: no model at %s (scripts/setup.sh installs it)" % MODEL)
    SRV = Server("--max-model-len", str(MAX_MODEL_LEN), "--block-size", "16")


def tearDownModule():
    if SRV:
        rc = SRV.stop()
        assert rc == 0, "server exit code %s\n%s" % (rc, SRV.stderr()[-3000:])


def chat(text, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


def post(path, body, srv=None, headers=None, raw=False):
    srv = srv or SRV
    data = body if raw else json.dumps(body)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return requests.post(srv.url + path, data=data, headers=h, timeout=120)


def stream_text(client, **kw):
    """Runs a streaming chat request; returns (text, finish_reason, chunks)."""
    chunks = list(client.chat.completions.create(stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return text, (finish[-1] if finish else None), chunks


class Basics(unittest.TestCase):
    def test_health(self):
        r = requests.get(SRV.url + "/health", timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.text, "ok")

    def test_models(self):
        models = SRV.client().models.list()
        self.assertEqual([m.id for m in models.data], [MODEL_ID])

    def test_metrics_format(self):
        r = requests.get(SRV.url + "/metrics", timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_]+="[^"]*"\})? -?[0-9.e+-]+$|^[a-z_]+ (NaN|\+Inf)$')
        for line in r.text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            self.assertRegex(line, sample)
        m = SRV.metrics()
        for name in ("fdeploy_requests_running", "fdeploy_requests_waiting", "fdeploy_kv_cache_usage_ratio",
                     "fdeploy_kv_cache_blocks_used", "fdeploy_prefix_cache_hit_rate",
                     "fdeploy_prefix_cache_queries_total", "fdeploy_prefix_cache_hits_total",
                     "fdeploy_generation_tokens_total", "fdeploy_prompt_tokens_total",
                     "fdeploy_requests_finished_total", "fdeploy_preemptions_total",
                     "fdeploy_generation_tokens_per_second"):
            self.assertIn(name, m)
        for h in ("fdeploy_time_to_first_token_seconds", "fdeploy_inter_token_latency_seconds"):
            buckets = [(k, v) for k, v in m.items() if k.startswith(h + "_bucket")]
            self.assertEqual(len(buckets), 16)
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), "buckets are cumulative")
            self.assertEqual(m[h + '_bucket{le="+Inf"}'], m[h + "_count"])
            self.assertIn(h + "_sum", m)


class Generation(unittest.TestCase):
    def test_completion(self):
        c = SRV.client()
        r = c.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=8, temperature=0)
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(len(r.choices), 1)
        self.assertTrue(r.choices[0].text)
        self.assertIn(r.choices[0].finish_reason, ("stop", "length"))
        self.assertEqual(r.usage.completion_tokens, 8 if r.choices[0].finish_reason == "length" else r.usage.completion_tokens)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
        chunks = list(c.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=8,
                                           temperature=0, stream=True))
        self.assertTrue(all(ch.object == "text_completion" for ch in chunks))
        self.assertEqual("".join(ch.choices[0].text for ch in chunks), r.choices[0].text)
        self.assertEqual(chunks[-1].choices[0].finish_reason, r.choices[0].finish_reason)

    def test_completion_token_ids(self):
        r = post("/v1/completions", {"prompt": [1, 504, 3458, 282], "max_tokens": 4, "temperature": 0})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usage"]["prompt_tokens"], 4)

    def test_chat(self):
        c = SRV.client()
        r = c.chat.completions.create(model=MODEL_ID, messages=chat("What is 2+2?"), max_tokens=10, temperature=0)
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertTrue(r.choices[0].message.content)
        text, finish, chunks = stream_text(c, model=MODEL_ID, messages=chat("What is 2+2?"), max_tokens=10,
                                           temperature=0, stream_options={"include_usage": True})
        self.assertEqual(text, r.choices[0].message.content)
        self.assertEqual(finish, r.choices[0].finish_reason)
        self.assertTrue(all(ch.object == "chat.completion.chunk" for ch in chunks))
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, r.usage.completion_tokens)
        self.assertEqual(chunks[-1].usage.prompt_tokens, r.usage.prompt_tokens)

    def test_sse_raw(self):
        r = requests.post(SRV.url + "/v1/chat/completions", stream=True, timeout=60,
                          json={"messages": chat("Hi"), "max_tokens": 3, "stream": True})
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/event-stream"))
        body = r.content.decode()
        events = body.split("\n\n")
        self.assertEqual(events[-1], "")
        self.assertEqual(events[-2], "data: [DONE]")
        for e in events[:-2]:
            self.assertTrue(e.startswith("data: {"), e)
            json.loads(e[6:])

    def test_n2(self):
        c = SRV.client()
        r = c.chat.completions.create(model=MODEL_ID, messages=chat("Tell me a word."), max_tokens=6, n=2,
                                      temperature=1.0, seed=7)
        self.assertEqual(sorted(ch.index for ch in r.choices), [0, 1])
        r2 = c.chat.completions.create(model=MODEL_ID, messages=chat("Tell me a word."), max_tokens=6, n=2,
                                       temperature=1.0, seed=7)
        self.assertEqual([ch.message.content for ch in r.choices], [ch.message.content for ch in r2.choices],
                         "same seed, same choices")
        chunks = list(c.completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=5, n=2,
                                           temperature=1.0, seed=3, stream=True))
        finished = {ch.choices[0].index for ch in chunks if ch.choices[0].finish_reason}
        self.assertEqual(finished, {0, 1})

    def test_logprobs_chat(self):
        r = SRV.client().chat.completions.create(model=MODEL_ID, messages=chat("Count: 1, 2, 3"), max_tokens=5,
                                                 temperature=0, logprobs=True, top_logprobs=3)
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        for t in content:
            self.assertEqual(len(t.top_logprobs), 3)
            self.assertLessEqual(t.logprob, 0.0)
            best = max(a.logprob for a in t.top_logprobs)
            self.assertAlmostEqual(t.logprob, best, places=3, msg="greedy picks the top token")

    def test_logprobs_completion(self):
        r = SRV.client().completions.create(model=MODEL_ID, prompt="1, 2, 3,", max_tokens=4, temperature=0,
                                            logprobs=2)
        lp = r.choices[0].logprobs
        self.assertEqual(len(lp.tokens), r.usage.completion_tokens)
        self.assertEqual(len(lp.token_logprobs), len(lp.tokens))
        self.assertEqual(len(lp.text_offset), len(lp.tokens))
        self.assertTrue(all(1 <= len(t) <= 2 for t in lp.top_logprobs))

    def test_stop_and_params(self):
        c = SRV.client()
        base = c.completions.create(model=MODEL_ID, prompt="One, two, three, four,", max_tokens=12,
                                    temperature=0).choices[0].text
        words = [w for w in base.split() if len(w) > 2]
        if not words:
            self.skipTest("skipped: greedy output has no word to stop at: %r" % base)
        stop = words[len(words) // 2]
        r = c.completions.create(model=MODEL_ID, prompt="One, two, three, four,", max_tokens=12, temperature=0,
                                 stop=[stop, "zzzz"])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].text, base[:base.index(stop)])
        r = post("/v1/completions", {"prompt": "Hello", "max_tokens": 6, "temperature": 0.7, "top_p": 0.9,
                                     "top_k": 20, "min_p": 0.05, "presence_penalty": 0.5,
                                     "frequency_penalty": 0.5, "repetition_penalty": 1.1, "seed": 1,
                                     "ignore_eos": True})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usage"]["completion_tokens"], 6)
        self.assertEqual(r.json()["choices"][0]["finish_reason"], "length")


class Errors(unittest.TestCase):
    def check(self, r, status, param=None, code=None, needle=None):
        self.assertEqual(r.status_code, status, r.text)
        err = r.json()["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        self.assertTrue(err["message"])
        if param is not None:
            self.assertEqual(err["param"], param)
        if code is not None:
            self.assertEqual(err["code"], code)
        if needle is not None:
            self.assertIn(needle, err["message"])
        return err

    def test_malformed_json(self):
        self.check(post("/v1/completions", '{"prompt": "x",', raw=True), 400, needle="malformed JSON")
        self.check(post("/v1/chat/completions", "not json", raw=True), 400)

    def test_wrong_types(self):
        self.check(post("/v1/completions", {"prompt": "x", "temperature": "hot"}), 400, "temperature")
        self.check(post("/v1/completions", {"prompt": "x", "max_tokens": "5"}), 400, "max_tokens")
        self.check(post("/v1/chat/completions", {"messages": "hi"}), 400, "messages")
        self.check(post("/v1/chat/completions", {"messages": chat("x"), "stream": "yes"}), 400, "stream")
        self.check(post("/v1/completions", {"prompt": "x", "stop": [1, 2]}), 400, "stop")
        self.check(post("/v1/completions", {"prompt": ["a", "b"]}), 400, "prompt",
                   needle="batched prompts not supported")

    def test_unknown_model(self):
        self.check(post("/v1/completions", {"model": "gpt-9", "prompt": "x"}), 404, "model", "model_not_found")
        with self.assertRaises(openai.NotFoundError):
            SRV.client().chat.completions.create(model="gpt-9", messages=chat("x"))

    def test_prompt_too_long(self):
        ids = [504] * (MAX_MODEL_LEN + 88)
        err = self.check(post("/v1/completions", {"prompt": ids, "max_tokens": 1}), 400, "prompt")
        self.assertIn(str(MAX_MODEL_LEN), err["message"])
        self.assertIn(str(len(ids)), err["message"])
        long_text = "hello " * (MAX_MODEL_LEN + 50)
        err = self.check(post("/v1/chat/completions", {"messages": chat(long_text)}), 400, "messages")
        self.assertIn(str(MAX_MODEL_LEN), err["message"])

    def test_too_many_tokens(self):
        err = self.check(post("/v1/completions", {"prompt": "Hello", "max_tokens": MAX_MODEL_LEN}), 400,
                         "max_tokens")
        self.assertIn(str(MAX_MODEL_LEN), err["message"])
        self.check(post("/v1/chat/completions", {"messages": chat("Hi"), "max_completion_tokens": 10 ** 6}), 400,
                   "max_tokens")

    def test_body_too_large(self):
        body = json.dumps({"prompt": "x" * (5 << 20)})
        self.check(post("/v1/completions", body, raw=True), 413)
        self.assertEqual(requests.get(SRV.url + "/health", timeout=10).status_code, 200)

    def test_routes(self):
        self.check(requests.get(SRV.url + "/v2/nothing", timeout=10), 404)
        r = requests.get(SRV.url + "/v1/completions", timeout=10)
        self.check(r, 405)
        self.assertEqual(r.headers.get("Allow"), "POST")
        self.check(requests.post(SRV.url + "/v1/models", timeout=10), 405)


class Auth(unittest.TestCase):
    def test_api_key(self):
        srv = Server("--api-key", "sekrit", "--max-model-len", "256")
        try:
            self.assertEqual(requests.get(srv.url + "/health", timeout=10).status_code, 200)
            for path in ("/v1/models", "/metrics"):
                r = requests.get(srv.url + path, timeout=10)
                self.assertEqual(r.status_code, 401)
                self.assertEqual(r.json()["error"]["type"], "authentication_error")
            r = requests.get(srv.url + "/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
            self.assertEqual(r.status_code, 401)
            r = post("/v1/completions", {"prompt": "x"}, srv=srv)
            self.assertEqual(r.status_code, 401)
            with self.assertRaises(openai.AuthenticationError):
                srv.client("wrong").models.list()
            r = srv.client("sekrit").completions.create(model=MODEL_ID, prompt="Hi", max_tokens=2)
            self.assertEqual(len(r.choices), 1)
        finally:
            self.assertEqual(srv.stop(), 0)


def sampling_variant(i):
    """Request i of the concurrency test: greedy for even i, varied sampling for odd."""
    kw = {"max_tokens": 8}
    if i % 2 == 0:
        kw["temperature"] = 0
    else:
        kw.update(temperature=0.5 + (i % 5) * 0.2, top_p=0.8 + (i % 3) * 0.1, seed=i,
                  presence_penalty=(i % 4) * 0.3, frequency_penalty=(i % 3) * 0.2)
        if i % 3 == 0:
            kw["extra_body"] = {"top_k": 10 + i, "min_p": 0.02, "repetition_penalty": 1.1}
    return kw


PROMPTS = ["Tell me about cats.", "What is the sun?", "Name a color.", "Write a haiku about rain."]


class Load(unittest.TestCase):
    def test_concurrent_streams(self):
        c = SRV.client()
        solo = {}
        for p in PROMPTS:
            solo[p], _, _ = stream_text(c, model=MODEL_ID, messages=chat(p), max_tokens=8, temperature=0)

        def one(i):
            p = PROMPTS[i % len(PROMPTS)]
            return i, p, stream_text(c, model=MODEL_ID, messages=chat(p), **sampling_variant(i))

        with cf.ThreadPoolExecutor(64) as ex:
            results = list(ex.map(one, range(64)))
        self.assertEqual(len(results), 64)
        for i, p, (text, finish, _) in results:
            self.assertIn(finish, ("stop", "length"), "request %d" % i)
            if i % 2 == 0:
                self.assertEqual(text, solo[p], "greedy request %d differs from the same request alone" % i)

    def test_prefix_cache(self):
        system = " ".join("Rule %d: answer briefly and politely, in plain English." % k for k in range(30))
        c = SRV.client()
        before = SRV.metrics()
        a = c.chat.completions.create(model=MODEL_ID, messages=chat("Name a fruit.", system), max_tokens=8,
                                      temperature=0)
        mid = SRV.metrics()
        b = c.chat.completions.create(model=MODEL_ID, messages=chat("Name a fruit.", system), max_tokens=8,
                                      temperature=0)
        after = SRV.metrics()
        self.assertGreater(a.usage.prompt_tokens, 256)
        self.assertEqual(a.choices[0].message.content, b.choices[0].message.content)
        hits = after["fdeploy_prefix_cache_hits_total"] - mid["fdeploy_prefix_cache_hits_total"]
        self.assertGreaterEqual(hits, 8, "the repeated system prompt (%d tokens) should hit the cache"
                                % a.usage.prompt_tokens)
        self.assertGreater(after["fdeploy_prefix_cache_hit_rate"], 0)
        self.assertGreaterEqual(mid["fdeploy_prefix_cache_queries_total"], before["fdeploy_prefix_cache_queries_total"])

    def test_disconnect_storm(self):
        def request(stream):
            body = json.dumps({"messages": chat("Write a long story about a dragon."), "max_tokens": 200,
                               "ignore_eos": True, "stream": stream}).encode()
            return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body)) + body

        def drop(i):
            # a third leave a non-streamed request at once, a third a stream after its headers,
            # a third after the first token
            s = socket.create_connection(("127.0.0.1", SRV.port), timeout=120)
            s.sendall(request(i % 3 != 0))
            got = b""
            want = [b"", b"HTTP/1.1", b"data: {"][i % 3]
            while want not in got:
                data = s.recv(4096)
                if not data:
                    break
                got += data
            s.close()
            return want in got

        before = SRV.metrics()
        with cf.ThreadPoolExecutor(100) as ex:
            ok = list(ex.map(drop, range(100)))
        self.assertTrue(all(ok))
        time.sleep(0.5)
        deadline = time.time() + 60
        while time.time() < deadline:
            m = SRV.metrics()
            if m["fdeploy_kv_cache_blocks_used"] == 0 and m["fdeploy_requests_running"] == 0 \
                    and m["fdeploy_requests_waiting"] == 0:
                break
            time.sleep(0.2)
        self.assertEqual(m["fdeploy_kv_cache_blocks_used"], 0, "KV blocks still held after the clients left")
        self.assertEqual(m["fdeploy_requests_running"], 0)
        generated = m["fdeploy_generation_tokens_total"] - before["fdeploy_generation_tokens_total"]
        self.assertLess(generated, 100 * 200 / 2, "the requests were aborted, not run to the end")
        r = SRV.client().completions.create(model=MODEL_ID, prompt="Still alive?", max_tokens=2)
        self.assertEqual(len(r.choices), 1)


def min_kv_bytes(extra_args):
    """The smallest --kv-cache-bytes the engine accepts, read from its error message."""
    p = subprocess.run([BIN, "serve", "-m", MODEL, "--port", "0", "--kv-cache-bytes", "1"] + extra_args,
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"at least (\d+)", p.stderr)
    return int(m.group(1)) if m else 30 * 2 * 3 * 64 * 4 * 128  # SmolLM2-135M, f32, 128 tokens


class Preemption(unittest.TestCase):
    def test_tiny_kv_cache(self):
        args = ["--max-model-len", "128", "--block-size", "16", "--max-num-seqs", "16"]
        kv = min_kv_bytes(args)
        srv = Server(*args, "--kv-cache-bytes", str(kv * 3 // 2))
        try:
            c = srv.client()
            prompts = ["Story %d: once upon a time, in a land far away," % i for i in range(8)]
            alone = c.completions.create(model=MODEL_ID, prompt=prompts[0], max_tokens=40, temperature=0,
                                         extra_body={"ignore_eos": True}).choices[0].text

            def body(p):
                return {"prompt": p, "max_tokens": 40, "temperature": 0, "ignore_eos": True}
            with cf.ThreadPoolExecutor(8) as ex:
                rs = list(ex.map(lambda p: post("/v1/completions", body(p), srv=srv), prompts))
            for r in rs:
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.json()["usage"]["completion_tokens"], 40)
            self.assertEqual(rs[0].json()["choices"][0]["text"], alone, "preempted and recomputed: same text")
            m = srv.metrics()
            self.assertGreater(m["fdeploy_preemptions_total"], 0, "the pool of 1.5 sequences should preempt")
            self.assertEqual(m["fdeploy_kv_cache_blocks_used"], 0)
        finally:
            self.assertEqual(srv.stop(), 0)


class Shutdown(unittest.TestCase):
    def test_sigterm(self):
        srv = Server("--max-model-len", "256")
        got = {}

        def stream():
            try:
                _, finish, _ = stream_text(srv.client(), model=MODEL_ID, messages=chat("Tell me a story."),
                                           max_tokens=200, extra_body={"ignore_eos": True})
                got["finish"] = finish
            except Exception as e:  # an aborted stream may end abruptly
                got["error"] = repr(e)

        t = threading.Thread(target=stream)
        t.start()
        time.sleep(1.0)
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.proc.wait(timeout=30)
        t.join(timeout=30)
        self.assertEqual(rc, 0, srv.stderr()[-2000:])
        self.assertLess(time.time() - t0, 20)
        self.assertTrue(got, "the in-flight stream ended")
        with self.assertRaises(requests.ConnectionError):
            requests.get(srv.url + "/health", timeout=5)
        srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
