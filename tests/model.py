#!/usr/bin/env python3
"""tests/model.py - a reference-model test of ragfs's docs/ folder.

Seeded random sequences of create, write, overwrite (in place), truncate,
rename (files and folders, onto free names and onto existing ones), unlink,
mkdir, rmdir and query are applied to MOUNT/docs and to a plain directory
(the model). After every step the outcome must agree (success, or the same
errno class) and the two trees must be equal: names, types, sizes, bytes.
Query steps write a document's unique keyword ("kw<seed>x<n>") to
MOUNT/query/ and the top hit's ref_doc_id must be that document (the hash
embedder is lexical).

On a failure the seed and step are printed, and the run is shrunk: the
shortest failing prefix (by bisection), then single steps removed while it
still fails, each replay on a fresh store and mount. The steps are concrete
(paths and bytes), so any subsequence can be replayed against both sides.

    model.py --ragfs PATH [--seeds 1,2,3] [--steps 300] [--no-shrink]
    model.py --mount-cmd 'ragfs -f {store} {mnt}' ...   ({store}, {mnt} filled in)

Output is TAP: one line per seed (and a diagnostic block for a failure).
Debian python3 only.
"""
import argparse
import errno
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu the of and to in is it that for on with as").split()

# Errnos that POSIX lets a filesystem use interchangeably for one condition.
EQUIV = {errno.ENOTEMPTY: errno.EEXIST}

TOKEN_RE = re.compile(rb"\bkw\d+x\d+\b")


def ename(e):
    return "OK" if e == 0 else errno.errorcode.get(e, str(e))


class Failure(Exception):
    pass


# ------------------------------------------------------------------ mounts


class Mount:
    """A fresh store mounted by the daemon (or by a mount command)."""

    def __init__(self, args, base):
        self.args = args
        self.base = base
        self.store = os.path.join(base, "store")
        self.mnt = os.path.join(base, "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        self.log = open(os.path.join(base, "daemon.log"), "ab")
        if args.mount_cmd:
            cmd = shlex.split(args.mount_cmd.format(store=self.store, mnt=self.mnt))
        else:
            cmd = [args.ragfs, "-f", "-o", "flush_interval=2,dim=%d" % args.dim,
                   self.store, self.mnt]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        for _ in range(300):
            if self.mounted():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited with %s" % self.proc.returncode)
            time.sleep(0.05)
        raise RuntimeError("mount did not appear")

    def mounted(self):
        with open("/proc/mounts") as f:
            return any(l.split()[1] == self.mnt for l in f if len(l.split()) > 1)

    def close(self):
        rc = None
        if self.mounted():
            subprocess.call(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            subprocess.call(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        self.log.close()
        return rc


# ------------------------------------------------------------- generation


class Gen:
    """Draws concrete steps from the model's current tree."""

    def __init__(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        self.n = 0

    def token(self):
        self.n += 1
        return "kw%dx%d" % (self.seed, self.n)

    def text(self):
        r = self.rng
        words = [r.choice(WORDS) for _ in range(r.randint(3, 25))]
        words.insert(r.randrange(len(words) + 1), self.token())
        lines, line = [], []
        for w in words:
            line.append(w)
            if r.random() < 0.15:
                lines.append(" ".join(line) + ".")
                line = []
        if line:
            lines.append(" ".join(line) + ".")
        return ("\n".join(lines) + "\n").encode()

    def name(self, ext=True):
        r = self.rng
        stem = r.choice(["a", "b", "c", "doc", "notes", "x", "y"]) + str(r.randint(0, 9))
        return stem + (r.choice([".txt", ".md", ""]) if ext else "")

    def step(self, tree):
        """tree: {relpath: 'd' | bytes}. Returns a step tuple."""
        r = self.rng
        dirs = [""] + sorted(p for p, v in tree.items() if v == "d")
        files = sorted(p for p, v in tree.items() if v != "d")
        alln = sorted(tree)

        def join(d, n):
            return n if not d else d + "/" + n

        def some_path():
            # an existing entry most of the time, else a fresh or missing name
            if alln and r.random() < 0.8:
                return r.choice(alln)
            return join(r.choice(dirs), self.name())

        kinds = ["create"] * 14 + ["write"] * 8 + ["overwrite"] * 8 + ["truncate"] * 6 + \
            ["rename"] * 10 + ["unlink"] * 6 + ["mkdir"] * 7 + ["rmdir"] * 5 + ["query"] * 12
        k = r.choice(kinds)
        if k in ("write", "overwrite", "truncate", "query") and not files:
            k = "create"
        if k == "create":
            return ("create", join(r.choice(dirs), self.name()), self.text())
        if k == "write":
            return ("write", r.choice(files), self.text())
        if k == "overwrite":
            p = r.choice(files)
            size = len(tree[p])
            return ("overwrite", p, r.randint(0, size), self.text())
        if k == "truncate":
            p = r.choice(files)
            size = len(tree[p])
            # mostly shrink (text stays text); sometimes grow (a NUL hole)
            n = r.randint(0, size) if r.random() < 0.8 else size + r.randint(1, 64)
            return ("truncate", p, n)
        if k == "rename":
            src = some_path()
            if r.random() < 0.5 and alln:
                dst = r.choice(alln)                       # onto an existing entry
            else:
                dst = join(r.choice(dirs), self.name(ext=tree.get(src) != "d"))
            return ("rename", src, dst)
        if k == "unlink":
            return ("unlink", some_path())
        if k == "mkdir":
            if r.random() < 0.15:
                return ("mkdir", join(join(r.choice(dirs), "missing9"), self.name(False)))
            return ("mkdir", join(r.choice(dirs), self.name(False)) if r.random() < 0.85
                    else some_path())
        if k == "rmdir":
            return ("rmdir", r.choice(dirs[1:]) if len(dirs) > 1 and r.random() < 0.8
                    else some_path())
        # query: a token of some file (unique or not: the check decides)
        p = r.choice(files)
        toks = TOKEN_RE.findall(tree[p])
        tok = r.choice(toks).decode() if toks else self.token()
        return ("query", tok)


# --------------------------------------------------------------- execution


def apply(root, step):
    """Apply a step under root; return 0 or the errno."""
    k = step[0]
    try:
        if k == "create" or k == "write":
            p = os.path.join(root, step[1])
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, step[2])
            finally:
                os.close(fd)
        elif k == "overwrite":
            fd = os.open(os.path.join(root, step[1]), os.O_WRONLY)
            try:
                os.pwrite(fd, step[3], step[2])
            finally:
                os.close(fd)
        elif k == "truncate":
            os.truncate(os.path.join(root, step[1]), step[2])
        elif k == "rename":
            os.rename(os.path.join(root, step[1]), os.path.join(root, step[2]))
        elif k == "unlink":
            os.unlink(os.path.join(root, step[1]))
        elif k == "mkdir":
            os.mkdir(os.path.join(root, step[1]))
        elif k == "rmdir":
            os.rmdir(os.path.join(root, step[1]))
        return 0
    except OSError as e:
        return e.errno


def read_tree(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        rel = os.path.relpath(dp, root)
        rel = "" if rel == "." else rel
        for d in dns:
            out[os.path.join(rel, d)] = "d"
        for f in fns:
            with open(os.path.join(dp, f), "rb") as fh:
                data = fh.read()
            size = os.stat(os.path.join(dp, f)).st_size
            out[os.path.join(rel, f)] = (size, data)
    return out


def model_tree(root):
    return {p: (v if v == "d" else v[1]) for p, v in read_tree(root).items()}


def indexable(data):
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(c < 32 and c not in (9, 10, 13) for c in data)


def tree_diff(a, b):
    """a: the mount, b: the model. Lines describing each difference."""
    lines = []
    for p in sorted(set(a) | set(b)):
        x, y = a.get(p), b.get(p)
        if x == y:
            continue
        if x is None:
            lines.append("missing on ragfs: %s (%s)" % (p, "dir" if y == "d" else "file"))
        elif y is None:
            lines.append("extra on ragfs: %s (%s)" % (p, "dir" if x == "d" else "file"))
        elif (x == "d") != (y == "d"):
            lines.append("type differs: %s" % p)
        elif x[0] != y[0]:
            lines.append("size differs: %s: stat %d, model %d" % (p, x[0], y[0]))
        elif x[0] != len(x[1]):
            lines.append("%s: stat size %d but %d bytes read" % (p, x[0], len(x[1])))
        else:
            i = next(i for i in range(len(x[1])) if x[1][i] != y[1][i])
            lines.append("bytes differ: %s at %d" % (p, i))
    return lines


def run_query(mnt, tok, qn):
    qpath = os.path.join(mnt, "query", "m%d.json" % qn)
    with open(qpath, "w") as f:
        json.dump({"query": tok, "top_k": 3}, f)
    with open(qpath) as f:
        raw = f.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise Failure("query %r: result is not JSON: %r" % (tok, raw[:300]))


def describe(step):
    k = step[0]
    if k in ("create", "write"):
        return "%s %s (%d bytes, tokens %s)" % (k, step[1], len(step[2]),
                                                 b",".join(TOKEN_RE.findall(step[2])).decode())
    if k == "overwrite":
        return "overwrite %s at %d (%d bytes, tokens %s)" % (
            step[1], step[2], len(step[3]), b",".join(TOKEN_RE.findall(step[3])).decode())
    return " ".join(str(x) for x in step)


def execute(args, steps, seed, log=None):
    """Run steps on a fresh mount and model dir. Returns None, or
    (index of the failing step, message)."""
    base = tempfile.mkdtemp(prefix="ragfs-model.")
    ctl = os.path.join(base, "model")
    os.makedirs(ctl)
    m = None
    try:
        m = Mount(args, base)
        docs = os.path.join(m.mnt, "docs")
        for i, st in enumerate(steps):
            if log is not None:
                log.append(st)
            try:
                if st[0] == "query":
                    check_query(m.mnt, ctl, st[1], i, args.dim if not args.mount_cmd else 0)
                else:
                    e_model = apply(ctl, st)
                    e_fs = apply(docs, st)
                    if EQUIV.get(e_fs, e_fs) != EQUIV.get(e_model, e_model):
                        raise Failure("%s: ragfs gave %s, the model %s" %
                                      (describe(st), ename(e_fs), ename(e_model)))
                diff = tree_diff(read_tree(docs), read_tree(ctl))
                if diff:
                    raise Failure("after %s the trees differ:\n  " % describe(st) +
                                  "\n  ".join(diff[:10]))
            except Failure as f:
                return (i, str(f))
            except OSError as e:
                return (i, "%s: unexpected %s" % (describe(st), e))
        rc = m.close()
        m = None
        if rc != 0:
            return (len(steps) - 1, "daemon exited with %s at unmount" % rc)
        with open(os.path.join(base, "daemon.log"), "rb") as f:
            bad = [l for l in f.read().decode(errors="replace").splitlines()
                   if re.search(r"ERR|WARN|==[0-9]+==|runtime error", l)]
        if bad:
            return (len(steps) - 1, "daemon log: " + "; ".join(bad[:5]))
        return None
    finally:
        if m is not None:
            m.close()
        shutil.rmtree(base, ignore_errors=True)


# The hash embedder (store/embed.h, v1), for the expected ranking: hash
# feature collisions are part of its design, so which document is top for a
# one-word query is computed, not assumed.
_M64 = (1 << 64) - 1


def _fnv(h, bs):
    for b in bs:
        h = ((h ^ b) * 0x100000001b3) & _M64
    return h


def _fmix(h):
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & _M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & _M64
    return h ^ (h >> 33)


def _is_word(c):
    return c >= 0x80 or 48 <= c <= 57 or 97 <= (c | 0x20) <= 122


def _lower(bs):
    return bytes(c | 0x20 if 65 <= c <= 90 else c for c in bs)


def _cps(w):
    out, i = [], 0
    while i < len(w):
        n = 1
        if w[i] >= 0xc0:
            while i + n < len(w) and n < 4 and (w[i + n] & 0xc0) == 0x80:
                n += 1
        out.append(w[i:i + n])
        i += n
    return out


def embed(text, dim):
    feats = {}

    def add(h, kind):
        k = (_fmix(h) & ~3) | kind
        feats[k] = feats.get(k, 0) + 1
    words = re.findall(rb"[0-9A-Za-z\x80-\xff]+", text)
    prev = None
    for w in words:
        lw = _lower(w)
        add(_fnv(_fnv(0xcbf29ce484222325, b"w"), lw), 1)
        if prev is not None:
            add(_fnv(_fnv(_fnv(_fnv(0xcbf29ce484222325, b"b"), prev), b" "), lw), 2)
        cps = [b"<"] + _cps(lw) + [b">"]
        for j in range(len(cps) - 2):
            add(_fnv(_fnv(0xcbf29ce484222325, b"t"), b"".join(cps[j:j + 3])), 3)
        prev = lw
    import math
    v = [0.0] * dim
    for k, n in feats.items():
        wt = (1.0 + math.log(n)) * (0.0, 1.0, 0.5, 0.25)[k & 3]
        v[(k >> 32) % dim] += -wt if (k >> 31) & 1 else wt
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v] if norm > 0 else v


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


STATS = {"queries": 0, "checked": 0, "collisions": 0}


def check_query(mnt, ctl, tok, i, dim):
    tree = model_tree(ctl)
    tb = tok.encode()
    holders = [p for p, v in tree.items() if v != "d" and tb in TOKEN_RE.findall(v)]
    res = run_query(mnt, tok, i)
    STATS["queries"] += 1
    if "error" in res:
        raise Failure("query %s: error %s" % (tok, res["error"]))
    hits = res.get("results", [])
    docs_hit = [h.get("ref_doc_id") for h in hits]
    hitdesc = ", ".join("%s %.3f" % (h.get("ref_doc_id"), h.get("score", 0)) for h in hits)
    # No hit may name a document that does not exist (stale nodes).
    for d in docs_hit:
        if d not in tree or tree[d] == "d":
            raise Failure("query %s: a hit names %r, which is not a document "
                          "(stale node); hits: %s" % (tok, d, hitdesc))
    docs = {p: v for p, v in tree.items() if v != "d" and indexable(v) and v.strip()}
    if len(holders) != 1 or holders[0] not in docs or not dim:
        return
    # Expected scores: one node per document while documents are small.
    if any(len(v) > 2000 for v in docs.values()):
        if not hits or hits[0].get("ref_doc_id") != holders[0]:
            raise Failure("query %s: top hit %s, want %s (hits: %s)" % (
                tok, docs_hit[:1], holders[0], hitdesc))
        return
    q = embed(tb, dim)
    scores = sorted(((cosine(q, embed(v, dim)), p) for p, v in docs.items()), reverse=True)
    best, want = scores[0]
    if len(scores) > 1 and best - scores[1][0] < 1e-4:
        return  # a tie: ragfs orders ties by node id
    STATS["checked"] += 1
    if want != holders[0]:
        STATS["collisions"] += 1  # a hash collision outranks the keyword
    if not hits or hits[0].get("ref_doc_id") != want or abs(hits[0]["score"] - best) > 1e-3:
        raise Failure("query %s: top hit %s, want %s with score %.4f (keyword in %s); "
                      "hits: %s" % (tok, docs_hit[:1], want, best, holders[0], hitdesc))


def generate(seed, nsteps, workdir):
    """Generate steps by running them on a scratch model directory."""
    g = Gen(seed)
    ctl = os.path.join(workdir, "gen-%d" % seed)
    shutil.rmtree(ctl, ignore_errors=True)
    os.makedirs(ctl)
    steps = []
    for _ in range(nsteps):
        st = g.step(model_tree(ctl))
        apply(ctl, st)
        steps.append(st)
    shutil.rmtree(ctl, ignore_errors=True)
    return steps


def shrink(args, steps, fail_at, msg):
    """Shortest failing prefix, then drop single steps. Returns (steps, msg)."""
    budget = args.shrink_budget
    best, best_msg = steps[:fail_at + 1], msg
    # 1. bisect the prefix length (the failure is usually at a fixed step)
    lo, hi = 1, len(best)
    while lo < hi and budget > 0:
        mid = (lo + hi) // 2
        r = execute(args, best[:mid], 0)
        budget -= 1
        if r:
            hi, best, best_msg = mid, best[:r[0] + 1], r[1]
            hi = min(hi, len(best))
        else:
            lo = mid + 1
    # 2. remove single steps, last to first
    i = len(best) - 2
    while i >= 0 and budget > 0:
        cand = best[:i] + best[i + 1:]
        r = execute(args, cand, 0)
        budget -= 1
        if r:
            best, best_msg = cand[:r[0] + 1], r[1]
            i = min(i, len(best) - 1)
        i -= 1
    return best, best_msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ragfs", help="the daemon (ragfs) to mount fresh stores with")
    ap.add_argument("--mount-cmd", help="mount command with {store} and {mnt}, foreground")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--dim", type=int, default=4096,
                    help="embedding dimension (the hash embedder's signed feature hashing "
                         "lets a document's words cancel its keyword at small dims)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--shrink-budget", type=int, default=40,
                    help="most replays spent shrinking one failure")
    args = ap.parse_args()
    if not args.ragfs and not args.mount_cmd:
        ap.error("--ragfs or --mount-cmd is required")
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        print("1..0 # SKIP no /dev/fuse or fusermount3")
        return 0
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    work = tempfile.mkdtemp(prefix="ragfs-model-gen.")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    failed = 0
    try:
        for n, seed in enumerate(seeds, 1):
            t0 = time.time()
            steps = generate(seed, args.steps, work)
            kinds = {}
            for st in steps:
                kinds[st[0]] = kinds.get(st[0], 0) + 1
            r = execute(args, steps, seed)
            if not r:
                print("ok %d - model: seed %d, %d steps agree (%s) in %.1fs" % (
                    n, seed, len(steps),
                    ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
                    time.time() - t0))
                print("# so far: queries %(queries)d, ranking checked %(checked)d, of which a hash "
                      "collision outranked the keyword %(collisions)d" % STATS)
                sys.stdout.flush()
                continue
            failed += 1
            at, msg = r
            print("not ok %d - model: seed %d fails at step %d of %d" % (
                n, seed, at, len(steps)))
            print("# " + msg.replace("\n", "\n# "))
            sys.stdout.flush()
            if args.no_shrink:
                continue
            small, smsg = shrink(args, steps, at, msg)
            print("# shrunk to %d steps (seed %d; replay them in order):" % (len(small), seed))
            for i, st in enumerate(small):
                print("#   %3d: %s" % (i, describe(st)))
            print("# failure: " + smsg.replace("\n", "\n#   "))
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % len(seeds))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
