#!/usr/bin/env python3
"""Cold start over a large store: how long a mount takes to answer its
first query, against the time it takes just to read the store's bytes.

  coldstart.py RAGFS WORK N DIM REPS

Builds (once, kept in WORK/store) a store of N random DIM-float vectors by
writing vector_store/<id>.f32 files through a mount (8 writers), compacts
it (Mount.compact: the snapshot segment with its vector block, which a
mount maps as its matrix), then measures REPS times each:
  read   cat of every segment file (the matrix and ids as the store keeps
         them) to /dev/null
  mount  ragfs start -> mounted -> first query answered (an embedding query,
         top_k 10), and the daemon's peak RSS (VmHWM) at that point
once with a warm page cache and, when root can drop caches, once cold
(sync; echo 3 > /proc/sys/vm/drop_caches before each run). Prints TSV
lines: kind, n, dim, matrix_mb, store_mb, read_s, mount_s, first_query_s,
hwm_mb (medians).
"""
import json
import os
import statistics
import subprocess
import sys
import time

from benchmount import Mount


def main():
    ragfs, work, n, dim, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    m = Mount(ragfs, base=work)
    opts = f"embed=none,dim={dim}"
    if not os.path.isdir(os.path.join(m.store, "segments")):
        import numpy as np
        m.start(opts)
        t = time.time()
        m.put_rows(np.random.default_rng(1).standard_normal((n, dim), dtype=np.float32), n)
        print(f"# wrote {n} vectors through the mount in {time.time() - t:.1f} s", file=sys.stderr)
        m.stop(timeout=600)
    man = json.load(open(os.path.join(m.store, "manifest.json")))
    if not man["segments"][0].get("vector_block"):
        m.start(opts)
        m.compact()
        m.stop(timeout=600)
        man = json.load(open(os.path.join(m.store, "manifest.json")))
    print(f"# {len(man['segments'])} segments, the first with a vector block: "
          f"{bool(man['segments'][0].get('vector_block'))}", file=sys.stderr)
    store = m.store
    segs = [os.path.join(store, "segments", f) for f in sorted(os.listdir(os.path.join(store, "segments")))]
    store_mb = sum(os.path.getsize(f) for f in segs) / 1e6
    matrix_mb = n * dim * 4 / 1e6
    q = {"embedding": [0.01] * dim, "top_k": 10}
    can_drop = os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)

    def drop():
        subprocess.run(["sync"])
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")

    def read_once(cold):
        if cold:
            drop()
        t = time.perf_counter()
        for f in segs:
            with open(f, "rb") as fh:
                while fh.read(8 << 20):
                    pass
        return time.perf_counter() - t

    def mount_once(cold):
        if cold:
            drop()
        t = time.perf_counter()
        m.start(opts)
        t1 = time.perf_counter()
        p = os.path.join(m.mnt, "query", "first.json")
        with open(p, "w") as f:
            json.dump(q, f)
        with open(p) as f:
            r = json.load(f)
        t2 = time.perf_counter()
        hwm = 0
        for line in open(f"/proc/{m.d.pid}/status"):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1e3
        m.stop(timeout=600)
        if len(r.get("results", [])) != 10:
            raise SystemExit(f"first query: {r}")
        return t2 - t, t1 - t, t2 - t1, hwm

    for cold in ([False, True] if can_drop else [False]):
        reads = [read_once(cold) for _ in range(reps)]
        mounts = [mount_once(cold) for _ in range(reps)]
        med = lambda i: statistics.median(m[i] for m in mounts)
        print(f"{'cold' if cold else 'warm'}\t{n}\t{dim}\t{matrix_mb:.0f}\t{store_mb:.0f}\t"
              f"{statistics.median(reads):.3f}\t{med(0):.3f}\t{med(2):.3f}\t{med(3):.0f}", flush=True)
    if not can_drop:
        print("# cold runs skipped: dropping the page cache needs root", file=sys.stderr)
    m.close()


if __name__ == "__main__":
    main()
