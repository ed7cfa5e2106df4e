#!/usr/bin/env python3
"""tests/fake_embed_server.py - a small OpenAI-compatible embeddings server
for the http embedder's tests (python3 stdlib only).

  fake_embed_server.py [--port 0] [--dim 16] [--model NAME] [--key-env VAR]

Prints its port on stdout (one line) when ready; exits on SIGTERM.

POST /v1/embeddings (or /embeddings)  {"model": M, "input": [str...] | str}
    -> {"object": "list", "data": [{"object": "embedding", "index": i,
        "embedding": [...]}], "model": M, "usage": {...}}
    Vectors are deterministic (see vector() below; tests recompute them).
    With --model, another model gets 404; with --key-env VAR (and VAR set),
    a request without "Authorization: Bearer $VAR" gets 401.
POST /control  JSON, every field optional:
    {"fail_next": N, "status": 503|429|500, "retry_after": S,
     "hang_next": N, "hang_seconds": S, "wrong_dim_next": N,
     "bad_value_next": N, "down": true|false, "delay_ms": D, "reset": true}
    fail_next: the next N requests get `status` (Retry-After: S when set);
    hang_next: the next N requests sleep hang_seconds before answering;
    wrong_dim_next: the next N replies have dim + 1 floats per vector;
    bad_value_next: the next N replies hold 1e300 (beyond float range);
    down: every request gets 503 until turned off;
    delay_ms: every request sleeps D ms first (to overlap requests);
    reset: zero the counters.
GET /stats -> {"requests", "inputs", "batch_sizes", "failures_injected",
               "hangs", "max_inflight", "auth_requests"}
GET /last  -> {"input": [...], "model": M, "authorization": "..."} of the
              last embeddings request (the test compares the header; nobody
              prints it).
"""
import argparse
import json
import math
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def vector(text, dim):
    """FNV-1a 64 of (utf-8 text, then the component j as 4 little-endian
    bytes); component = top 53 bits mapped to [-1, 1); L2-normalised."""
    data = text.encode("utf-8", "surrogatepass")
    base = 0xCBF29CE484222325
    for b in data:
        base = ((base ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    out = []
    for j in range(dim):
        h = base
        for b in struct.pack("<I", j):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        out.append((h >> 11) / float(1 << 53) * 2.0 - 1.0)
    norm = math.sqrt(sum(x * x for x in out))
    return [x / norm for x in out]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.fail_next = 0
        self.status = 503
        self.retry_after = None
        self.hang_next = 0
        self.hang_seconds = 0.0
        self.wrong_dim_next = 0
        self.bad_value_next = 0
        self.down = False
        self.delay_ms = 0
        self.inflight = 0
        self.reset()
        self.last = {}

    def reset(self):
        self.requests = 0
        self.inputs = 0
        self.batch_sizes = []
        self.failures_injected = 0
        self.hangs = 0
        self.max_inflight = 0
        self.auth_requests = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses connections

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw.decode("utf-8")) if raw else {}

    def do_GET(self):
        st = self.server.state
        with st.lock:
            if self.path == "/stats":
                obj = {"requests": st.requests, "inputs": st.inputs,
                       "batch_sizes": st.batch_sizes,
                       "failures_injected": st.failures_injected,
                       "hangs": st.hangs, "max_inflight": st.max_inflight,
                       "auth_requests": st.auth_requests}
            elif self.path == "/last":
                obj = st.last
            else:
                obj = None
        if obj is None:
            self.reply(404, {"error": {"message": "not found"}})
        else:
            self.reply(200, obj)

    def do_POST(self):
        try:
            req = self.read_json()
        except (ValueError, UnicodeDecodeError) as ex:
            self.reply(400, {"error": {"message": "bad JSON: %s" % ex}})
            return
        if self.path == "/control":
            self.control(req)
        elif self.path in ("/v1/embeddings", "/embeddings"):
            st = self.server.state
            with st.lock:
                st.inflight += 1
                st.max_inflight = max(st.max_inflight, st.inflight)
            try:
                self.embeddings(req)
            finally:
                with st.lock:
                    st.inflight -= 1
        else:
            self.reply(404, {"error": {"message": "no such endpoint"}})

    def control(self, req):
        st = self.server.state
        with st.lock:
            if req.get("reset"):
                st.reset()
            for k in ("fail_next", "status", "hang_next", "wrong_dim_next", "delay_ms",
                      "bad_value_next"):
                if k in req:
                    setattr(st, k, int(req[k]))
            if "hang_seconds" in req:
                st.hang_seconds = float(req["hang_seconds"])
            if "retry_after" in req:
                st.retry_after = req["retry_after"]
            if "down" in req:
                st.down = bool(req["down"])
        self.reply(200, {"ok": True})

    def embeddings(self, req):
        st = self.server.state
        args = self.server.args
        auth = self.headers.get("Authorization")
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        with st.lock:
            st.requests += 1
            if auth:
                st.auth_requests += 1
            st.last = {"input": inputs, "model": req.get("model"),
                       "authorization": auth}
            delay = st.delay_ms / 1000.0
            fail = None
            if st.down:
                fail, ra = 503, None
            elif st.fail_next > 0:
                st.fail_next -= 1
                fail, ra = st.status, st.retry_after
            if fail:
                st.failures_injected += 1
            hang = 0.0
            if not fail and st.hang_next > 0:
                st.hang_next -= 1
                st.hangs += 1
                hang = st.hang_seconds
            wrong = bad = False
            if not fail and not hang and st.wrong_dim_next > 0:
                st.wrong_dim_next -= 1
                wrong = True
            if not fail and not hang and st.bad_value_next > 0:
                st.bad_value_next -= 1
                bad = True
        if delay:
            time.sleep(delay)
        if fail:
            hdr = {"Retry-After": str(ra)} if ra is not None else None
            self.reply(fail, {"error": {"message": "injected failure"}}, hdr)
            return
        if hang:
            time.sleep(hang)  # then answer as usual (a client that gave up is gone)
        if args.key_env and os.environ.get(args.key_env):
            if auth != "Bearer " + os.environ[args.key_env]:
                self.reply(401, {"error": {"message": "bad key"}})
                return
        if args.model and req.get("model") != args.model:
            self.reply(404, {"error": {"message": "model %r not found" % req.get("model")}})
            return
        if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
            self.reply(400, {"error": {"message": "input must be a list of strings"}})
            return
        dim = args.dim + (1 if wrong else 0)
        data = [{"object": "embedding", "index": i, "embedding": vector(t, dim)}
                for i, t in enumerate(inputs)]
        if bad:
            data[0]["embedding"][0] = 1e300  # finite, but no float holds it
        data.reverse()  # clients must order by "index"
        with st.lock:
            st.inputs += len(inputs)
            st.batch_sizes.append(len(inputs))
        self.reply(200, {"object": "list", "data": data, "model": req.get("model"),
                         "usage": {"prompt_tokens": 0, "total_tokens": 0}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--model", default=None)
    ap.add_argument("--key-env", default=None)
    args = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State()
    srv.args = args
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
