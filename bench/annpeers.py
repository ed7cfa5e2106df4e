#!/usr/bin/env python3
"""bench/annpeers.py - the ANN rows of scripts/bench that run from Python.

  annpeers.py hnswlib WORKDIR N DIM [SECS]   hnswlib (python3-hnswlib)
  annpeers.py faiss WORKDIR N DIM [SECS]     FAISS IndexHNSWFlat (python3-faiss)
  annpeers.py mount WORKDIR N DIM RAGFS      ragfs through a mount: vectors written
                                             to vector_store/, the graph built by the
                                             daemon, "mode": "ann" queries, a remount
  annpeers.py report TSV OUT.md              the markdown table

Both graphs get the parameters ragfs uses: M=32, ef_construction=200, inner
product on the unit rows (= cosine), built with one thread per CPU. Data
(ann_data.f32, ann_queries.f32, ann_truth.i32: 1000 queries, exact top-10)
comes from bench/annbench.c. Latency: single queries on one thread, median
over the 1000; QPS: the 1000 queries as one batch on all CPUs (both
libraries parallelise a batch internally; ragfs's figure is one search
thread per CPU, each running single queries). Output lines are TSV:
  ann METHOD N build_s ef median_ms qps recall
"""
import json, os, statistics, sys, time

from benchmount import Mount

K = 10


def load(work, dim):
    import numpy as np
    x = np.fromfile(os.path.join(work, "ann_data.f32"), dtype="<f4").reshape(-1, dim)
    q = np.fromfile(os.path.join(work, "ann_queries.f32"), dtype="<f4").reshape(-1, dim)
    t = np.fromfile(os.path.join(work, "ann_truth.i32"), dtype="<u4").reshape(-1, K)
    return x, q, t


def run(kind, work, n, dim):
    import numpy as np
    x, q, t = load(work, dim)
    threads = os.cpu_count() or 1
    s = time.perf_counter()
    if kind == "hnswlib":
        import hnswlib
        idx = hnswlib.Index(space="ip", dim=dim)
        idx.init_index(max_elements=n, M=32, ef_construction=200, random_seed=1)
        idx.add_items(x, np.arange(n), num_threads=threads)

        def search(qs, ef, nt):
            idx.set_ef(ef)
            return idx.knn_query(qs, k=K, num_threads=nt)[0]
        label = "hnswlib"
    else:
        import faiss
        faiss.omp_set_num_threads(threads)
        idx = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 200
        idx.add(x)

        def search(qs, ef, nt):
            faiss.omp_set_num_threads(nt)
            idx.hnsw.efSearch = ef
            return idx.search(qs, K)[1]
        label = "faiss-hnsw"
    build = time.perf_counter() - s
    print(f"# {label}: built {n} x {dim} in {build:.1f} s", file=sys.stderr, flush=True)
    print(f"note\t{label}: load average after its build {os.getloadavg()[0]:.1f}", flush=True)
    for ef in (64, 128, 256):
        search(q[:1], ef, 1)
        ts, rec = [], 0.0
        for i in range(len(q)):
            s = time.perf_counter()
            got = search(q[i:i + 1], ef, 1)[0]
            ts.append((time.perf_counter() - s) * 1e3)
            rec += len(set(int(g) for g in got) & set(int(w) for w in t[i])) / K
        qps = "-"
        if ef == 64:
            s = time.perf_counter()
            search(q, ef, threads)
            qps = f"{len(q) / (time.perf_counter() - s):.1f}"
        print(f"ann\t{label}\t{n}\t{build:.1f}\t{ef}\t{statistics.median(ts):.3f}\t{qps}\t"
              f"{rec / len(q):.4f}", flush=True)


def mount(work, n, dim, ragfs):
    """The daemon's view: write the rows as vector_store/<id>.f32 (threshold
    above N, so the graph waits), ask one "mode": "ann" query (the build
    starts), time until status.json says ready, query through query/ files,
    unmount (the file is written), remount and time until the mapped graph is
    ready. Prints: annmount N write_s build_s ann_ms recall exact_ms
    unmount_s remount_ready_s"""
    x, q, t = load(work, dim)
    m = Mount(ragfs, "ragfs-bench-ann-mnt.")
    mnt = m.mnt
    opts = f"embed=none,dim={dim},ann_threshold={n + 1}"

    def ask(req, name="q"):
        with open(os.path.join(mnt, "query", name), "w") as f:
            json.dump(req, f)
        with open(os.path.join(mnt, "query", name)) as f:
            return json.load(f)

    def wait_ready():
        s = time.perf_counter()
        while True:
            st = json.load(open(os.path.join(mnt, ".ragfs", "status.json")))
            a = st["ann"]
            if a["state"] == "ready" and a["nodes"] == st["vectors"] == n and not a["pending"]:
                return time.perf_counter() - s
            time.sleep(0.2)

    m.start(opts)
    try:
        s = time.perf_counter()
        m.put_rows(x, n)
        write = time.perf_counter() - s
        first = ask(dict(embedding=[float(v) for v in q[0]], top_k=K, mode="ann"))
        assert first.get("index") == "exact", first.get("index")
        build = wait_ready()
        reqs = [[float(v) for v in q[i]] for i in range(200)]
        ts, rec = [], 0.0
        for i, e in enumerate(reqs):
            s = time.perf_counter()
            r = ask(dict(embedding=e, top_k=K, mode="ann", ef=64))
            ts.append((time.perf_counter() - s) * 1e3)
            assert r.get("index") == "hnsw", r.get("index")
            got = [int(h["node_id"].split("-")[1]) for h in r["results"]]
            rec += len(set(got) & set(int(w) for w in t[i])) / K
        ets = []
        for e in reqs[:30]:
            s = time.perf_counter()
            ask(dict(embedding=e, top_k=K))
            ets.append((time.perf_counter() - s) * 1e3)
        down = m.stop(timeout=600)
        m.start(opts)
        again = wait_ready()
        r = ask(dict(embedding=reqs[0], top_k=K, mode="ann"))
        assert r.get("index") == "hnsw"
        print(f"annmount\t{n}\t{write:.1f}\t{build:.1f}\t{statistics.median(ts):.3f}\t"
              f"{rec / len(reqs):.4f}\t{statistics.median(ets):.3f}\t{down:.2f}\t{again:.2f}",
              flush=True)
    finally:
        m.stop(timeout=600)
        m.close()


def report(tsv, out):
    rows, files, noise, notes, mounts = [], {}, {}, [], []
    for line in open(tsv):
        f = line.rstrip("\n").split("\t")
        if f[0] == "ann" and len(f) == 8:
            rows.append(f[1:])
        elif f[0] == "annfile":
            files[int(f[1])] = f[2:]
        elif f[0] == "annmount":
            mounts.append(f[1:])
        elif f[0] == "noise":
            noise[int(f[1])] = float(f[2])
        elif f[0] in ("note", "skip"):
            notes.append(f[-1])
    labels = {"ragfs-hnsw": "ragfs HNSW (store/hnsw.c)", "hnswlib": "hnswlib 0.6.2 (Debian)",
              "faiss-hnsw": "FAISS 1.7.3 IndexHNSWFlat (Debian)",
              "ragfs-exact": "ragfs exact scan (vecindex_search), for scale"}
    o = ["# ANN: HNSW top-10 on 384-d clustered embeddings", "",
         "Generated by `scripts/bench` (ANN stage). M=32, ef_construction=200, cosine; "
         "builds on all CPUs; latency = median single-query time on one thread over 1000 "
         "queries; QPS at ef=64 on all CPUs; recall@10 against the exact top-10.", "",
         "| method | N | build s | ef | ms/query | QPS | recall@10 |",
         "|---|---|---|---|---|---|---|"]
    order = ["ragfs-hnsw", "hnswlib", "faiss-hnsw", "ragfs-exact"]
    for m in order:
        for r in rows:
            if r[0] == m:
                o.append(f"| {labels.get(m, m)} | {int(r[1]):,} | {r[2]} | {r[3]} | {r[4]} | "
                         f"{r[5]} | {r[6]} |")
    for n, f in sorted(files.items()):
        o.append("")
        o.append(f"ragfs graph file at N={n:,}: {int(f[0]) / 1e6:.0f} MB, written in {f[1]} s, "
                 f"mapped and checked in {f[2]} s.")
    if mounts:
        o += ["", "Through a mount (`-o embed=none`, rows written as `vector_store/<id>.f32` "
              "by 8 threads; the graph built by the daemon after the first `\"mode\": "
              "\"ann\"` query; latencies are `query/` file write + read round trips):", "",
              "| N | write s | graph build s | ann ef=64 ms | recall@10 | exact ms | "
              "unmount s (file written) | remount: ready s |", "|---|---|---|---|---|---|---|---|"]
        for m in mounts:
            o.append(f"| {int(m[0]):,} | " + " | ".join(m[1:]) + " |")
    o += ["", "## Noise", ""]
    for n, v in sorted(noise.items()):
        o.append(f"- N={n:,}: other processes used {v:.0f} % of the machine's CPU while "
                 "annbench ran.")
    o += [f"- {s}" for s in notes]
    o.append("- The machine is a shared 2-vCPU VM; compare within one run.")
    open(out, "w").write("\n".join(o) + "\n")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] in ("hnswlib", "faiss"):
        try:
            run(a[0], a[1], int(a[2]), int(a[3]))
        except ImportError as e:
            print(f"skip\t{a[0]}\t{a[0]} skipped: {e}", flush=True)
    elif a[0] == "mount":
        mount(a[1], int(a[2]), int(a[3]), a[4])
    elif a[0] == "report":
        report(a[1], a[2])
