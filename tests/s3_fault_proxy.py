#!/usr/bin/env python3
"""tests/s3_fault_proxy.py - a fault-injecting HTTP/1.1 proxy for ragfs's S3 tests.

Python 3 standard library only. It listens on 127.0.0.1:PORT and forwards every
request, byte for byte (request line, headers including Host, body), to the S3
endpoint given with --upstream, so SigV4 signatures stay valid: the client
signs for the proxy's host:port, and the server checks the same Host header it
receives. Replies are relayed unchanged unless a fault is injected:

  503   answer "503 SlowDown" with an S3 XML error body (the request body is
        read first; nothing reaches the server)
  reset close the client connection with a TCP RST before any response
        (nothing reaches the server)
  cut   forward, then send the reply's headers with the full Content-Length
        and close halfway through the body (a reply without a body is cut
        halfway through its headers); the server has applied the request
  spike sleep a random 200-800 ms (--latency-ms) before forwarding (it
        combines with the others)

Usage:
  tests/s3_fault_proxy.py --upstream http://127.0.0.1:17480 [--port 0]
      [--seed N] [--p-503 P] [--p-reset P] [--p-cut P] [--p-latency P]
      [--latency-ms MIN-MAX] [--match REGEX] [--port-file F] [--stats-file F] [-v]

When it listens it prints the port on stdout (one line) and writes it to
--port-file. Faults are drawn from one random.Random(seed); --match limits
them to requests whose "METHOD /path?query" matches.

Control, on the same port (not forwarded; S3 bucket names cannot start
with "__"):
  GET  /__stats                 the counters, JSON
  GET  /__config                the current rates, JSON
  POST /__config  {"p_503": 0.1, "p_reset": 0.03, "p_cut": 0.03,
                   "p_latency": 0.05, "latency_ms": [200, 800],
                   "match": "^PUT ", "seed": 7}        change any of them
  POST /__down    {"seconds": 5}  stop listening (connections are refused
                  and open ones are closed) for that long; no "seconds":
                  until SIGUSR2
Signals: SIGUSR1 down (as /__down without seconds), SIGUSR2 up again,
SIGHUP prints the counters on stderr, SIGTERM/SIGINT print them and exit 0.
At exit the counters also go to --stats-file.
"""
import argparse
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
CFG = {"p_503": 0.0, "p_reset": 0.0, "p_cut": 0.0, "p_latency": 0.0,
       "latency_ms": [200, 800], "match": None, "seed": 1}
RNG = random.Random(1)
STATS = {"requests": 0, "forwarded": 0, "injected_503": 0, "injected_reset": 0,
         "injected_cut": 0, "injected_latency": 0, "latency_ms_total": 0,
         "control": 0, "down_periods": 0, "closed_by_down": 0,
         "upstream_errors": 0, "client_errors": 0, "by_method": {}}
VERBOSE = False
MAX_HEAD = 1 << 20


def log(*a):
    if VERBOSE:
        print("s3_fault_proxy:", *a, file=sys.stderr, flush=True)


def bump(key, n=1):
    with LOCK:
        STATS[key] += n


def stats_json():
    with LOCK:
        return json.dumps(STATS, sort_keys=True)


def set_config(new):
    with LOCK:
        for k, v in new.items():
            if k not in CFG:
                raise ValueError(f"unknown setting {k!r}")
            if k.startswith("p_"):
                v = float(v)
                if not 0 <= v <= 1:
                    raise ValueError(f"{k} must be in [0, 1]")
            elif k == "latency_ms":
                v = [int(v[0]), int(v[1])] if isinstance(v, list) else [int(v), int(v)]
                if v[0] < 0 or v[1] < v[0]:
                    raise ValueError("latency_ms must be [min, max] with 0 <= min <= max")
            elif k == "match" and v is not None:
                re.compile(v)
            elif k == "seed":
                v = int(v)
                RNG.seed(v)
            CFG[k] = v


class Closed(Exception):
    """The peer closed the connection."""


class Conn:
    """A socket with a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise Closed()
        self.buf += d

    def read_head(self):
        """Bytes up to and including the blank line; None on a clean EOF."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return head
            if len(self.buf) > MAX_HEAD:
                raise ValueError("header too large")
            try:
                self.fill()
            except Closed:
                if self.buf:
                    raise
                return None

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                d, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return d
            self.fill()

    def read_some(self, limit):
        if not self.buf:
            self.fill()
        d, self.buf = self.buf[:limit], self.buf[limit:]
        return d


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def read_body(c, hdrs):
    """The raw bytes of a request body as framed on the wire."""
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        out = []
        while True:
            line = c.read_line()
            out.append(line)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    t = c.read_line()
                    out.append(t)
                    if t == b"\r\n":
                        return b"".join(out)
            out.append(c.read_exact(size + 2))
    n = int(hdrs.get("content-length", "0") or 0)
    return c.read_exact(n) if n else b""


def rst_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def send_response(sock, status, reason, body, ctype="application/json", close=False):
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    sock.sendall(head.encode() + body)


def slowdown_body():
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b'<Message>Please reduce your request rate. (injected by s3_fault_proxy)'
            b'</Message><Resource>/</Resource><RequestId>fault-proxy</RequestId></Error>')


class Proxy:
    def __init__(self, upstream, host, port):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise SystemExit("s3_fault_proxy: --upstream must be http://host:port")
        self.uhost, self.uport = u.hostname, u.port or 80
        self.host, self.port = host, port
        self.lsock = None
        self.down_until = None  # None: up; float: down until then; inf: until SIGUSR2
        self.clients = set()
        self.stop = threading.Event()
        self.cv = threading.Condition()

    # ---- listening socket
    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(100):
            try:
                s.bind((self.host, self.port))
                break
            except OSError:
                time.sleep(0.1)  # the port may linger after a down period
        else:
            s.bind((self.host, self.port))
        s.listen(256)
        s.settimeout(0.1)
        self.port = s.getsockname()[1]
        self.lsock = s

    def go_down(self, seconds=None):
        with self.cv:
            self.down_until = float("inf") if seconds is None else time.monotonic() + seconds
            self.cv.notify_all()
        bump("down_periods")
        log("down", "until SIGUSR2" if seconds is None else f"for {seconds} s")

    def go_up(self):
        with self.cv:
            self.down_until = None
            self.cv.notify_all()
        log("up")

    def serve(self):
        while not self.stop.is_set():
            with self.cv:
                down = self.down_until is not None and time.monotonic() < self.down_until
                if self.down_until is not None and not down:
                    self.down_until = None
            if down:
                if self.lsock is not None:
                    self.lsock.close()
                    self.lsock = None
                    with LOCK:
                        victims = list(self.clients)
                    for cs in victims:
                        bump("closed_by_down")
                        rst_close(cs)
                with self.cv:
                    self.cv.wait(0.05)
                continue
            if self.lsock is None:
                self.listen()
                log("listening again on", self.port)
            try:
                cs, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                continue
            cs.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with LOCK:
                self.clients.add(cs)
            threading.Thread(target=self.handle, args=(cs,), daemon=True).start()

    # ---- one client connection (keep-alive: many requests)
    def handle(self, cs):
        c = Conn(cs)
        up = None
        try:
            while True:
                head = c.read_head()
                if head is None:
                    return
                first, hdrs = parse_head(head)
                parts = first.split(" ")
                method = parts[0].upper()
                target = parts[1] if len(parts) > 1 else "/"
                body = read_body(c, hdrs)
                if target.startswith("/__"):
                    if not self.control(cs, method, target, body):
                        return
                    continue
                with LOCK:
                    STATS["requests"] += 1
                    STATS["by_method"][method] = STATS["by_method"].get(method, 0) + 1
                fault, delay = self.choose(f"{method} {target}")
                if delay:
                    log(f"{method} {target}: latency {delay} ms")
                    time.sleep(delay / 1000.0)
                if fault:
                    log(f"{method} {target}: {fault}")
                if fault == "503":
                    send_response(cs, 503, "Slow Down", slowdown_body(), "application/xml")
                    continue
                if fault == "reset":
                    rst_close(cs)
                    return
                up = self.forward(cs, up, head, body, method, fault == "cut")
                if up is None and fault == "cut":
                    return
                if hdrs.get("connection", "").lower() == "close":
                    return
        except Closed:
            pass
        except (OSError, ValueError) as e:
            bump("client_errors")
            log("client connection:", repr(e))
        finally:
            with LOCK:
                self.clients.discard(cs)
            try:
                cs.close()
            except OSError:
                pass
            if up is not None:
                up.sock.close()

    def choose(self, reqline):
        with LOCK:
            m = CFG["match"]
            if m and not re.search(m, reqline):
                return None, 0
            delay = 0
            if CFG["p_latency"] and RNG.random() < CFG["p_latency"]:
                lo, hi = CFG["latency_ms"]
                delay = RNG.randint(lo, hi)
                STATS["injected_latency"] += 1
                STATS["latency_ms_total"] += delay
            x = RNG.random()
            fault = None
            for kind in ("503", "reset", "cut"):
                p = CFG["p_" + kind]
                if x < p:
                    fault = kind
                    break
                x -= p
            if fault:
                STATS["injected_" + fault] += 1
            return fault, delay

    def forward(self, cs, up, head, body, method, cut):
        """Send one request upstream and relay the reply. Returns the upstream
        connection to reuse, or None when it was closed."""
        for attempt in (0, 1):
            fresh = up is None
            if fresh:
                try:
                    us = socket.create_connection((self.uhost, self.uport), timeout=120)
                except OSError as e:
                    bump("upstream_errors")
                    log("upstream connect:", repr(e))
                    send_response(cs, 502, "Bad Gateway", b"", close=True)
                    raise Closed()
                us.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                up = Conn(us)
            try:
                up.sock.sendall(head + body)
                rhead = up.read_head()
                while rhead is not None:  # 1xx interim replies go through
                    status = int(parse_head(rhead)[0].split(" ")[1])
                    if not 100 <= status < 200:
                        break
                    cs.sendall(rhead)
                    rhead = up.read_head()
                if rhead is None:
                    raise Closed()
            except (Closed, OSError) as e:
                up.sock.close()
                up = None
                if fresh or attempt:  # nothing relayed yet: the client retries
                    bump("upstream_errors")
                    log("upstream:", repr(e))
                    rst_close(cs)
                    raise Closed()
                continue  # a stale keep-alive connection: once more on a new one
            break
        bump("forwarded")
        status_line, rh = parse_head(rhead)
        status = int(status_line.split(" ")[1])
        if method == "HEAD" or status in (204, 304):
            framing, length = "none", 0
        elif "chunked" in rh.get("transfer-encoding", "").lower():
            framing, length = "chunked", None
        elif "content-length" in rh:
            framing, length = "length", int(rh["content-length"])
        else:
            framing, length = "eof", None
        if cut and (framing != "length" or length < 2):
            # No body to cut in half: cut the headers instead.
            cs.sendall(rhead[:len(rhead) // 2])
            rst_close(cs)
            up.sock.close()
            return None
        cs.sendall(rhead)
        if framing == "none":
            pass
        elif framing == "length":
            left = length // 2 if cut else length
            while left:
                d = up.read_some(min(left, 65536))
                cs.sendall(d)
                left -= len(d)
            if cut:
                # Half the body, then the end: a FIN for even, an RST for odd lengths.
                if length % 2:
                    rst_close(cs)
                else:
                    cs.shutdown(socket.SHUT_RDWR)
                up.sock.close()
                return None
        elif framing == "chunked":
            while True:
                line = up.read_line()
                cs.sendall(line)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = up.read_line()
                        cs.sendall(t)
                        if t == b"\r\n":
                            break
                    break
                cs.sendall(up.read_exact(size + 2))
        else:
            try:
                while True:
                    cs.sendall(up.read_some(65536))
            except Closed:
                pass
            up.sock.close()
            raise Closed()
        if rh.get("connection", "").lower() == "close":
            up.sock.close()
            raise Closed()
        return up

    # ---- control requests; False: close the connection
    def control(self, cs, method, target, body):
        bump("control")
        path = urllib.parse.urlsplit(target).path
        try:
            if path == "/__stats" and method == "GET":
                send_response(cs, 200, "OK", stats_json().encode() + b"\n")
            elif path == "/__config" and method == "GET":
                with LOCK:
                    out = json.dumps(CFG, sort_keys=True)
                send_response(cs, 200, "OK", out.encode() + b"\n")
            elif path == "/__config" and method in ("POST", "PUT"):
                set_config(json.loads(body or b"{}"))
                with LOCK:
                    out = json.dumps(CFG, sort_keys=True)
                send_response(cs, 200, "OK", out.encode() + b"\n")
            elif path == "/__down" and method in ("POST", "PUT"):
                req = json.loads(body or b"{}")
                send_response(cs, 200, "OK", b'{"down": true}\n', close=True)
                self.go_down(req.get("seconds"))
                return False
            else:
                send_response(cs, 404, "Not Found", b'{"error": "no such control"}\n')
        except (ValueError, TypeError, KeyError, IndexError) as e:
            send_response(cs, 400, "Bad Request",
                          json.dumps({"error": str(e)}).encode() + b"\n")
        return True


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="fault-injecting S3 proxy for ragfs tests")
    ap.add_argument("--upstream", required=True, help="http://host:port of the S3 server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--p-503", type=float, default=0.0)
    ap.add_argument("--p-reset", type=float, default=0.0)
    ap.add_argument("--p-cut", type=float, default=0.0)
    ap.add_argument("--p-latency", type=float, default=0.0)
    ap.add_argument("--latency-ms", default="200-800", help="MIN-MAX of a latency spike")
    ap.add_argument("--match", default=None, help="regex on 'METHOD /path?query'")
    ap.add_argument("--port-file")
    ap.add_argument("--stats-file")
    ap.add_argument("-v", action="store_true", help="one line per fault on stderr")
    a = ap.parse_args()
    VERBOSE = a.v
    lo, _, hi = a.latency_ms.partition("-")
    try:
        set_config({"p_503": a.p_503, "p_reset": a.p_reset, "p_cut": a.p_cut,
                    "p_latency": a.p_latency, "latency_ms": [int(lo), int(hi or lo)],
                    "match": a.match, "seed": a.seed})
        if CFG["p_503"] + CFG["p_reset"] + CFG["p_cut"] > 1:
            raise ValueError("the fault probabilities add up to more than 1")
    except ValueError as e:
        raise SystemExit(f"s3_fault_proxy: {e}")

    p = Proxy(a.upstream, a.host, a.port)
    p.listen()

    def dump(*_):
        print("s3_fault_proxy stats: " + stats_json(), file=sys.stderr, flush=True)

    def finish(*_):
        p.stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGHUP, dump)
    signal.signal(signal.SIGUSR1, lambda *_: p.go_down(None))
    signal.signal(signal.SIGUSR2, lambda *_: p.go_up())
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{p.port}\n")
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    print(p.port, flush=True)
    t = threading.Thread(target=p.serve, daemon=True)
    t.start()
    while t.is_alive() and not p.stop.is_set():
        t.join(0.2)
    dump()
    if a.stats_file:
        with open(a.stats_file, "w") as f:
            f.write(stats_json() + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
