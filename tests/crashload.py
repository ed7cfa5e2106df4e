#!/usr/bin/env python3
"""crashload.py - the workload and the checker of tests/it_crashloop.sh.

  crashload.py run MOUNT LOG SEED CYCLE [WORKERS]
      W threads, each in its own folder docs/cl/w<i>/, do random ingests
      (new files, some in subfolders), in-place overwrites (O_TRUNC),
      appends, temp-file + rename overwrites, renames (onto new and existing
      names, and of whole subfolders) and unlinks (some of files held open,
      whose fstat must then show nlink 0), until a call fails (the daemon
      was SIGKILLed under them). Before each call that commits (close(),
      rename(), unlink()) a "begin" record goes to LOG, and an "end" record
      only after the call returned 0; both are written with O_APPEND and
      fdatasync'd before the workload goes on, so LOG knows every call that
      returned before the kill. Content is random text (200 B to 256 KiB,
      so kills land inside ingest) with a unique marker word per write.

  crashload.py check MOUNT LOG STATE
      STATE (JSON {path: sha256}, missing = empty store) is what the mount
      held when the cycle began. The ended calls in LOG are applied to it in
      order, per worker; a worker's last call, if it has no end, may or may
      not have happened. Each worker's folder on the remounted MOUNT must be
      exactly one of those two states: every file whose close() returned has
      its newest returned bytes, a returned rename/unlink is reflected, the
      call in flight is all or nothing (never torn, never empty). Then, per
      document: ref_doc_info's file_size is its size and every node's text
      is a substring of its bytes (nodes match the content, not an older
      one), and a BM25 query for a marker word finds the document. Writes
      the state found to STATE. Exit 1 with a description on any mismatch.

Only the LOG/STATE files live outside the mount. Errors from the mount
while running are expected (ENOTCONN/ECONNABORTED after the kill); any
other errno is recorded and reported by check.
"""
import errno
import hashlib
import json
import os
import random
import sys
import threading

WORDS = ("ragfs journal segment manifest crash recovery vector node index store "
         "query document durable atomic rename unlink overwrite append torn frame "
         "kernel daemon fuse mount cache flush replay commit checksum").split()
EXPECTED_ERRS = {errno.ENOTCONN, errno.ECONNABORTED}


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Log:
    """O_APPEND records, fdatasync'd: a record is on disk before the
    workload makes its next call."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.lock = threading.Lock()

    def rec(self, **r):
        line = (json.dumps(r, sort_keys=True) + "\n").encode()
        with self.lock:
            os.write(self.fd, line)
            os.fdatasync(self.fd)


def text(rng, marker):
    # Mostly small documents, some large ones (ingest takes longer).
    size = rng.choice([4096, 16384, 65536, 65536, 262144]) if rng.random() < 0.2 else rng.randint(200, 8192)
    out, n = [marker], len(marker)
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
        if rng.random() < 0.08:
            out.append(".\n" if rng.random() < 0.5 else ".")
    return (" ".join(out) + "\n").encode()


def mkdirs(path, top):
    """mkdir -p below top (os.makedirs(exist_ok=True) raises EEXIST when the
    mount dies between its mkdir and its isdir)."""
    rel = os.path.relpath(path, top)
    for i in range(len(rel.split("/"))):
        try:
            os.mkdir(os.path.join(top, *rel.split("/")[: i + 1]))
        except FileExistsError:
            pass


def worker(mnt, log, seed, cycle, wid):
    rng = random.Random(f"{seed}-{cycle}-{wid}")
    rel_dir = f"cl/w{wid}"
    d = os.path.join(mnt, "docs", rel_dir)
    try:
        mkdirs(d, mnt)
        names = sorted(os.path.relpath(os.path.join(r, f), d)
                       for r, _, fs in os.walk(d) for f in fs)
    except OSError as e:
        log.rec(w=wid, ph="err", errno=errno.errorcode.get(e.errno, str(e.errno)), op="list")
        return
    n = 0
    while True:
        n += 1
        opid = f"c{cycle}w{wid}n{n}"
        marker = f"mk{seed}x{opid}"
        r = rng.random()
        if len(names) > 25 and r < 0.30:
            r += 0.68  # keep the folder small: rename or unlink instead
        subdirs = sorted({x.split("/")[0] for x in names if "/" in x})
        if not names or r < 0.30 or (len(names) < 8 and r < 0.5):
            kind = "write"
            name = f"f{cycle}-{n}.txt"
            if rng.random() < 0.25:  # in a subfolder, new or existing
                sub = rng.choice(subdirs) if subdirs and rng.random() < 0.6 else f"d{cycle}-{n}"
                name = f"{sub}/{name}"
        elif r < 0.48:
            kind = "write"
            name = rng.choice(names)
        elif r < 0.56:
            kind = "append"
            name = rng.choice(names)
        elif r < 0.68:
            kind = "tmpwrite"  # a temp file, then renamed over an existing one
            name = rng.choice(names)
        elif r < 0.79 or (r < 0.82 and not subdirs):
            kind = "rename"
            name = rng.choice(names)
        elif r < 0.82:
            kind = "dirrename"  # a whole subfolder: one transaction
            name = rng.choice(subdirs)
        else:
            kind = "unlink"
            name = rng.choice(names)
        p = os.path.join(d, name)
        rel = f"{rel_dir}/{name}"
        try:
            if kind in ("write", "append"):
                data = text(rng, marker)
                mkdirs(os.path.dirname(p), d)
                log.rec(w=wid, ph="begin", op=kind, path=rel, sha=sha(data), data=data.hex() if kind == "append" else None)
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if kind == "append" else os.O_TRUNC), 0o644)
                try:
                    mv = memoryview(data)
                    while mv:
                        mv = mv[os.write(fd, mv):]
                finally:
                    os.close(fd)  # the commit: its errno is the call's
                log.rec(w=wid, ph="end")
                if name not in names:
                    names.append(name)
            elif kind == "tmpwrite":
                tmp = f".t{cycle}-{n}.tmp"
                tp = os.path.join(d, tmp)
                data = text(rng, marker)
                log.rec(w=wid, ph="begin", op="write", path=f"{rel_dir}/{tmp}", sha=sha(data))
                with open(tp, "wb") as f:
                    f.write(data)
                log.rec(w=wid, ph="end")
                names.append(tmp)
                log.rec(w=wid, ph="begin", op="rename", path=f"{rel_dir}/{tmp}", to=rel)
                os.rename(tp, p)
                log.rec(w=wid, ph="end")
                names.remove(tmp)
            elif kind == "dirrename":
                to = f"d{cycle}-{n}"
                log.rec(w=wid, ph="begin", op="rename", path=rel, to=f"{rel_dir}/{to}")
                os.rename(p, os.path.join(d, to))
                log.rec(w=wid, ph="end")
                names = [to + x[len(name):] if x.startswith(name + "/") else x for x in names]
            elif kind == "rename":
                to = rng.choice(names) if rng.random() < 0.3 else f"r{cycle}-{n}.txt"
                if to == name:
                    continue
                # Now and then with the file open (its name follows it).
                fd = os.open(p, os.O_RDONLY) if rng.random() < 0.3 else None
                log.rec(w=wid, ph="begin", op="rename", path=rel, to=f"{rel_dir}/{to}")
                try:
                    os.rename(p, os.path.join(d, to))
                finally:
                    if fd is not None:
                        os.close(fd)
                log.rec(w=wid, ph="end")
                names.remove(name)
                if to not in names:
                    names.append(to)
            else:
                # Now and then while open: libfuse hides it (fs/hidden.h),
                # which must be the same durable unlink.
                fd = os.open(p, os.O_RDONLY) if rng.random() < 0.3 else None
                log.rec(w=wid, ph="begin", op="unlink", path=rel)
                try:
                    os.unlink(p)
                    if fd is not None and os.fstat(fd).st_nlink != 0:
                        raise OSError(errno.EUCLEAN, "fstat of the unlinked open file: nlink is not 0")
                finally:
                    if fd is not None:
                        os.close(fd)
                log.rec(w=wid, ph="end")
                names.remove(name)
        except OSError as e:
            log.rec(w=wid, ph="err", errno=errno.errorcode.get(e.errno, str(e.errno)),
                    unexpected=e.errno not in EXPECTED_ERRS, op=kind, path=rel)
            return


def run(mnt, logp, seed, cycle, nworkers):
    log = Log(logp)
    ts = [threading.Thread(target=worker, args=(mnt, log, seed, cycle, w), daemon=True)
          for w in range(nworkers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def apply(state, op):
    """state: {path: (sha, bytes or None)}; returns a new dict."""
    s = dict(state)
    if op["op"] == "write":
        s[op["path"]] = op["sha"]
    elif op["op"] == "append":
        # The appended bytes are in the log; the base must be known: the
        # checker keeps contents for that (see check()).
        s[op["path"]] = ("append", s.get(op["path"]), op["data"])
    elif op["op"] == "rename":
        if op["path"] in s:
            s[op["to"]] = s.pop(op["path"])
        else:  # a folder: everything under it moves
            pre = op["path"] + "/"
            for k in [k for k in s if k.startswith(pre)]:
                s[op["to"] + "/" + k[len(pre):]] = s.pop(k)
    elif op["op"] == "unlink":
        s.pop(op["path"], None)
    return s


def read_tree(mnt, rel_dir):
    out = {}
    base = os.path.join(mnt, "docs", rel_dir)
    for root, _, files in os.walk(base):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, os.path.join(mnt, "docs"))] = fh.read()
    return out


def matches(model, actual, contents):
    """model: {path: sha | ("append", base, hexdata)}; actual: {path: bytes}."""
    if set(model) != set(actual):
        return False
    for p, want in model.items():
        got = actual[p]
        if isinstance(want, tuple):
            # An O_APPEND write: the bytes before it, then its data.
            tail = bytes.fromhex(want[2])
            if not got.endswith(tail):
                return False
            head = got[: len(got) - len(tail)]
            base = want[1]
            if base is None:
                if head:
                    return False
            elif not matches({p: base}, {p: head}, contents):
                return False
        elif sha(got) != want:
            return False
    return True


def describe(model, actual):
    out = []
    for p in sorted(set(model) | set(actual)):
        m, a = model.get(p), actual.get(p)
        if m is None:
            out.append(f"    {p}: unexpected (size {len(a)})")
        elif a is None:
            out.append(f"    {p}: missing")
        elif not isinstance(m, tuple) and sha(a) != m:
            out.append(f"    {p}: wrong bytes (size {len(a)}, sha {sha(a)[:12]}, want {m[:12]})")
        elif isinstance(m, tuple):
            out.append(f"    {p}: append (size {len(a)})")
    return "\n".join(out) or "    (no difference in names and hashes)"


def check(mnt, logp, statep):
    state = {}
    if os.path.exists(statep):
        state = json.load(open(statep))
    recs = [json.loads(l) for l in open(logp)] if os.path.exists(logp) else []
    problems = []
    workers = sorted({r["w"] for r in recs} | {int(p.split("/")[1][1:]) for p in state})
    new_state = {}
    counts = {"returned": 0, "in_flight": 0}
    for w in workers:
        rel_dir = f"cl/w{w}"
        base = {p: v for p, v in state.items() if p.startswith(rel_dir + "/")}
        pending = None
        for r in (r for r in recs if r["w"] == w):
            if r["ph"] == "begin":
                pending = r
            elif r["ph"] == "end":
                base = apply(base, pending)
                counts["returned"] += 1
                pending = None
            elif r["ph"] == "err" and r.get("unexpected"):
                problems.append(f"worker {w}: {r['op']} {r.get('path')}: unexpected {r['errno']}")
        options = [base]
        if pending:
            options.append(apply(base, pending))
            counts["in_flight"] += 1
        actual = read_tree(mnt, rel_dir)
        if not any(matches(o, actual, None) for o in options):
            problems.append(f"worker {w}: the folder matches neither the returned calls"
                            + (f" nor them plus the one in flight ({pending['op']} {pending['path']}"
                               f"{' -> ' + pending['to'] if pending.get('to') else ''})" if pending else "")
                            + ":\n" + describe(options[-1] if pending else base, actual))
        new_state.update({p: sha(b) for p, b in actual.items()})
    # The stores describe these bytes: size in ref_doc_info, node texts are
    # substrings, and a marker finds the document.
    docs = read_all_docs(mnt)
    ds = json.load(open(os.path.join(mnt, "persist/docstore.json")))
    infos, meta, data = ds["docstore/ref_doc_info"], ds["docstore/metadata"], ds["docstore/data"]
    for p, b in sorted(docs.items()):
        info = infos.get(p)
        if info is None:
            problems.append(f"{p}: not in ref_doc_info")
            continue
        if info["metadata"].get("file_size") != len(b):
            problems.append(f"{p}: ref_doc_info file_size {info['metadata'].get('file_size')}, bytes {len(b)}")
        if meta.get(p, {}).get("doc_hash") != sha(b):
            problems.append(f"{p}: doc_hash is not the sha256 of its bytes")
        txt = b.decode()
        for nid in info["node_ids"]:
            node = data.get(nid, {}).get("__data__", {})
            if node.get("text") not in txt or node["metadata"].get("file_path") != p:
                problems.append(f"{p}: node {nid} does not belong to these bytes")
                break
    stale = sorted(k for k in set(infos) - set(docs) if k.startswith("cl/"))
    if stale:
        problems.append(f"ref_doc_info has documents that are not in docs/: {stale[:5]}")
    rng = random.Random(len(docs))
    for p in rng.sample(sorted(docs), min(3, len(docs))):
        marker = docs[p].split(b" ", 1)[0].split(b"\n", 1)[0].decode()
        qp = os.path.join(mnt, "query", "crashcheck")
        with open(qp, "w") as f:
            json.dump({"query": marker, "mode": "text", "top_k": 20}, f)
        res = open(qp).read()
        if f'"ref_doc_id": "{p}"' not in res:
            problems.append(f"{p}: a text query for its marker {marker} does not find it")
        os.unlink(qp)
    json.dump(new_state, open(statep + ".new", "w"))
    os.replace(statep + ".new", statep)
    print(f"# checked {len(docs)} documents: {counts['returned']} returned calls, "
          f"{counts['in_flight']} in flight")
    for pr in problems:
        print(pr)
    return 1 if problems else 0


def read_all_docs(mnt):
    return read_tree(mnt, "cl") if os.path.isdir(os.path.join(mnt, "docs/cl")) else {}


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
            int(sys.argv[6]) if len(sys.argv) > 6 else 3)
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3], sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
