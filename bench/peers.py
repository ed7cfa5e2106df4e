#!/usr/bin/env python3
"""bench/peers.py - the parts of scripts/bench that run from Python.

  peers.py faiss WORKDIR N DIM        FAISS IndexFlatIP single query, 1 and 2 threads
  peers.py mount WORKDIR N DIM RAGFS SECS   ragfs through a mount: query/ files
                                      (then remounted with RAGFS_VEC_BATCH=0, and
                                      with -o vec_compress=int8)
  peers.py report TSV OUT.md [PNG]    the markdown table (and gnuplot PNG)

Data (data.f32, queries.f32, truth.i32) comes from bench/vecbench.c. Output
lines are TSV: method N threads median_ms best_ms GB/s qps recall.
"""
import json, os, shutil, statistics, subprocess, sys, threading, time

from benchmount import Mount

NT, K = 8, 10


def load(work, n, dim):
    import numpy as np
    x = np.fromfile(os.path.join(work, "data.f32"), dtype="<f4").reshape(n, dim)
    q = np.fromfile(os.path.join(work, "queries.f32"), dtype="<f4").reshape(-1, dim)
    t = np.fromfile(os.path.join(work, "truth.i32"), dtype="<u4").reshape(NT, K)
    return x, q, t


def recall(got, want):
    return len(set(int(g) for g in got) & set(int(w) for w in want)) / K


def faiss_run(work, n, dim):
    try:
        import faiss
    except ImportError:
        print("skip\tfaiss\tpython3-faiss not installed", flush=True)
        return
    x, q, t = load(work, n, dim)
    gb = n * dim * 4 / 1e9
    index = faiss.IndexFlatIP(dim)
    index.add(x)
    reps = 12 if n >= 500000 else 30
    for threads in (1, os.cpu_count() or 1):
        faiss.omp_set_num_threads(threads)
        index.search(q[:1], K)
        ts = []
        for i in range(reps):
            s = time.perf_counter()
            index.search(q[i % len(q):i % len(q) + 1], K)
            ts.append((time.perf_counter() - s) * 1e3)
        rec = sum(recall(index.search(q[i:i + 1], K)[1][0], t[i]) for i in range(NT)) / NT
        med = statistics.median(ts)
        print(f"faiss\t{n}\t{threads}\t{med:.3f}\t{min(ts):.3f}\t{gb / (med / 1e3):.2f}\t"
              f"{1e3 / med:.1f}\t{rec:.3f}", flush=True)


def mount_run(work, n, dim, ragfs, secs):
    import numpy as np
    x, q, t = load(work, n, dim)
    m = Mount(ragfs, "ragfs-bench-mnt.")
    m.start(f"embed=none,dim={dim}")
    try:
        s = time.perf_counter()
        m.put_rows(x, n)
        print(f"# mount: wrote {n} vector files in {time.perf_counter() - s:.1f} s",
              file=sys.stderr, flush=True)
        qd = os.path.join(m.mnt, "query")

        def put(name, i):
            with open(os.path.join(qd, name), "w") as f:
                json.dump({"embedding": [float(v) for v in q[i]], "top_k": K}, f)

        def ask(name):
            with open(os.path.join(qd, name)) as f:
                return f.read()
        for i in range(64):
            put(f"b{i}", i)
        gb = n * dim * 4 / 1e9

        def latency(tag):
            rec = 0
            for i in range(NT):
                res = json.loads(ask(f"b{i}"))
                got = [int(h["node_id"].split("-")[1]) for h in res["results"]]
                rec += recall(got, t[i])
            rec /= NT
            ts = []
            for i in range(30):
                s = time.perf_counter()
                ask(f"b{i % 64}")
                ts.append((time.perf_counter() - s) * 1e3)
            med = statistics.median(ts)
            print(f"{tag}\t{n}\t1\t{med:.3f}\t{min(ts):.3f}\t{gb / (med / 1e3):.2f}\t"
                  f"{1e3 / med:.1f}\t{rec:.3f}", flush=True)

        def throughput(tag):
            for readers in (1, 8, 64):
                done = [0] * readers
                end = time.perf_counter() + secs

                def loop(r):
                    i = r
                    while True:
                        ask(f"b{i % 64}")
                        done[r] += 1
                        i += 1
                        if time.perf_counter() >= end:
                            return
                s = time.perf_counter()
                ths = [threading.Thread(target=loop, args=(r,)) for r in range(readers)]
                for th in ths:
                    th.start()
                for th in ths:
                    th.join()
                qps = sum(done) / (time.perf_counter() - s)
                print(f"{tag}\t{n}\t{readers}\t{1e3 / qps * readers:.3f}\t-\t{gb * qps:.2f}\t"
                      f"{qps:.1f}\t-", flush=True)
        latency("mount")
        throughput("mountqps")
        # The same store remounted (query files live per mount: written
        # again): each search alone, then the int8 copy.
        m.stop()
        m.start(f"embed=none,dim={dim}", env={"RAGFS_VEC_BATCH": "0"})
        for i in range(64):
            put(f"b{i}", i)
        throughput("mountqps_nb")
        m.stop()
        m.start(f"embed=none,dim={dim},vec_compress=int8")
        for i in range(64):
            put(f"b{i}", i)
        latency("mount_int8")
        throughput("mountqps_int8")
    finally:
        m.stop()
        m.close()


def report(tsv, out, png):
    rows, noise, skips, notes = {}, {}, [], []
    qinfo, binfo = {}, {}
    for line in open(tsv):
        f = line.rstrip("\n").split("\t")
        if f[0] == "qinfo":
            qinfo[(f[1], int(f[2]))] = [float(x) for x in f[3:]]
        elif f[0] == "binfo":
            binfo[(int(f[1]), int(f[2]))] = float(f[3])
        elif f[0] == "noise":
            noise.setdefault(int(f[1]), []).append(float(f[2]))
        elif f[0] == "skip":
            skips.append(f[2])
        elif f[0] == "note":
            notes.append(f[1])
        elif len(f) == 8:
            rows[(f[0], int(f[1]), int(f[2]))] = f[3:]
    sizes = sorted({k[1] for k in rows})
    thr = sorted({k[2] for k in rows if k[0] == "dot"})
    tmax = max(thr) if thr else 1

    def cell(m, n, t, col=0):
        r = rows.get((m, n, t))
        return r[col] if r else "—"

    def ms(m, n, t):
        r = rows.get((m, n, t))
        return float(r[0]) if r else None
    o = ["# Exact top-10 cosine search, 384-d clustered embeddings", ""]
    o.append("Generated by `scripts/bench`. Median of per-round medians (ms per query); "
             "GB/s = matrix bytes / median time; recall@10 against a double brute force.")
    o.append("")
    hdr = "| method | threads | " + " | ".join(f"N={n:,}: ms (best) | GB/s | recall" for n in sizes) + " |"
    o += [hdr, "|" + "---|" * (2 + 3 * len(sizes))]
    names = [("dot", "dot pass, no selection (bandwidth limit)"), ("ragfs", "ragfs vecindex_search"),
             ("sgemv", "OpenBLAS sgemv + heap"), ("faiss", "FAISS IndexFlatIP (Debian)"),
             ("mount", "ragfs through the mount (query/ file read)"),
             ("batch64", "ragfs sgemm batch of 64 queries, per query"),
             ("int8", "ragfs int8 copy + exact re-rank (vec_compress=int8)"),
             ("fp16", "ragfs fp16 copy + exact re-rank (vec_compress=fp16)"),
             ("mount_int8", "ragfs through the mount, vec_compress=int8")]
    for m, label in names:
        ts = sorted({k[2] for k in rows if k[0] == m})
        for t in ts:
            cells = []
            for n in sizes:
                r = rows.get((m, n, t))
                if not r:
                    cells.append("— | — | —")
                    continue
                rec = r[4] if r[4] not in ("-", "-1.000") else ""
                cells.append(f"{float(r[0]):.2f} ({r[1]}) | {float(r[2]):.1f} | {rec}")
            o.append(f"| {label} | {t} | " + " | ".join(cells) + " |")
    o += ["", "Throughput with concurrent readers (queries/s; the default split, "
          f"{tmax} threads per search):", ""]
    o += ["| path | N | 1 reader | 8 readers | 64 readers |", "|---|---|---|---|---|"]
    for m, label in (("qps", "in-process, each search alone (read lock)"),
                     ("bqps", "in-process, coalesced (vecbatch_search, the daemon's path)"),
                     ("mountqps", "through the mount (coalescing on, the default)"),
                     ("mountqps_nb", "through the mount, RAGFS_VEC_BATCH=0 (each alone)"),
                     ("mountqps_int8", "through the mount, vec_compress=int8")):
        for n in sizes:
            if any(k[0] == m and k[1] == n for k in rows):
                o.append(f"| {label} | {n:,} | " +
                         " | ".join(cell(m, n, r, 3) for r in (1, 8, 64)) + " |")
    for n in sizes:
        if any(k[0] == n for k in binfo):
            o.append(f"| (queries per coalesced batch, in-process) | {n:,} | " +
                     " | ".join(f"{binfo.get((n, r), 0):.1f}" for r in (1, 8, 64)) + " |")
    if any(k[0] in ("filt0", "filt1", "filt1s") for k in rows):
        o += ["", "Filtered search through `query_run` (the daemon's query path, fill of the "
              "hits included; 1% = nodes with `\"bucket\": 7`):", ""]
        o += ["| request | N | threads | ms (best) | recall |", "|---|---|---|---|---|"]
        for m, label in (("filt0", "no filter"),
                         ("filt1", "1% filter `{\"key\": \"bucket\", \"value\": 7}` (metadata index)"),
                         ("filt1s", "the same 1% as `>= 7` and `<= 7` (metadata index: one pass over the key's numbers)")):
            for k in sorted(k for k in rows if k[0] == m):
                r = rows[k]
                o.append(f"| {label} | {k[1]:,} | {k[2]} | {float(r[0]):.3f} ({r[1]}) | {r[4]} |")
    if qinfo:
        o += ["", "Compressed copies (the float rows stay; phase 2 = a second pass when the "
              "error bound could not settle the top k):", ""]
        o += ["| copy | N | copy MB | vs float rows | phase 2 | rows re-scored per search | encode s |",
              "|---|---|---|---|---|---|---|"]
        for (kind, n), v in sorted(qinfo.items()):
            o.append(f"| {kind} | {n:,} | {v[0] / 1e6:.1f} | +{100 * v[0] / v[1]:.1f}% | "
                     f"{100 * v[2]:.1f}% | {v[3]:.0f} | {v[4]:.2f} |")
    o += ["", "## Ratios against the targets (same run)", ""]
    o += ["| N | ratio | value | target |", "|---|---|---|---|"]
    for n in sizes:
        for t in thr:
            d, r = ms("dot", n, t), ms("ragfs", n, t)
            if d and r:
                v = d / r
                o.append(f"| {n:,} | ragfs scan / dot-pass bandwidth, {t} thread(s) | "
                         f"**{v:.2f}x** | >= 0.9x {'met' if v >= 0.9 else 'NOT met'} |")
        r1, rt = ms("ragfs", n, 1), ms("ragfs", n, tmax)
        f1 = min([v for v in (ms("faiss", n, 1), ms("faiss", n, tmax)) if v] or [0])
        if f1 and rt:
            v = f1 / rt
            o.append(f"| {n:,} | ragfs ({tmax}T) vs best FAISS IndexFlatIP single query | "
                     f"**{v:.1f}x** faster | >= 4x {'met' if v >= 4 else 'NOT met'} |")
        if f1 and r1:
            o.append(f"| {n:,} | ragfs (1T) vs best FAISS IndexFlatIP single query | "
                     f"{f1 / r1:.1f}x faster | (same-thread view) |")
        s = ms("sgemv", n, tmax)
        if s and rt:
            o.append(f"| {n:,} | ragfs vs sgemv + heap ({tmax}T) | {s / rt:.2f}x faster | |")
        for t in sorted({1, tmax}):
            b, r = ms("batch64", n, t), ms("ragfs", n, t)
            if b and r:
                o.append(f"| {n:,} | sgemm batch of 64 vs single query, per query, {t}T | "
                         f"**{r / b:.1f}x** faster | |")
            for kind in ("int8", "fp16"):
                c = ms(kind, n, t)
                if c and r:
                    o.append(f"| {n:,} | {kind} copy scan vs float scan, {t}T | "
                             f"{r / c:.2f}x faster | exact (recall {rows[(kind, n, t)][4]}) |")
        f0, f1, fs = ms("filt0", n, tmax), ms("filt1", n, tmax), ms("filt1s", n, tmax)
        if f0 and f1:
            o.append(f"| {n:,} | 1% indexed filter vs no filter | **{f0 / f1:.0f}x** faster | "
                     f"faster than no filter: {'met' if f1 < f0 else 'NOT met'} |")
        if f0 and fs:
            o.append(f"| {n:,} | 1% range filter (`>= 7`, `<= 7`) vs no filter | **{f0 / fs:.0f}x** faster | "
                     f"faster than no filter: {'met' if fs < f0 else 'NOT met'} |")
        for r_ in (8, 64):
            a, b = rows.get(("qps", n, r_)), rows.get(("bqps", n, r_))
            if a and b:
                o.append(f"| {n:,} | coalesced vs alone, {r_} readers in-process (QPS) | "
                         f"{float(b[3]) / float(a[3]):.1f}x | |")
            a, b = rows.get(("mountqps_nb", n, r_)), rows.get(("mountqps", n, r_))
            if a and b:
                o.append(f"| {n:,} | coalesced vs alone, {r_} readers through the mount (QPS) | "
                         f"{float(b[3]) / float(a[3]):.1f}x | |")
    o += ["", "## Noise", ""]
    for n in sizes:
        if n in noise:
            o.append(f"- N={n:,}: other processes used {', '.join(f'{v:.0f}' for v in noise[n])} % "
                     "of the machine's CPU during the in-process measurements.")
    o += [f"- {s}" for s in skips + notes]
    o.append("- Two-thread figures on this 2-vCPU VM swing between runs (host contention); "
             "compare ratios from one run, not absolute times.")
    open(out, "w").write("\n".join(o) + "\n")
    if png and shutil.which("gnuplot"):
        dat = out + ".dat"
        with open(dat, "w") as f:
            for i, (m, label) in enumerate(names):
                for n in sizes:
                    v = ms(m, n, tmax) or ms(m, n, 1)
                    f.write(f'"{m}" {n} {n * 384 * 4 / 1e9 / (v / 1e3) if v else 0:.2f}\n')
        script = (f'set terminal png size 900,500; set output "{png}"; set style data histogram;'
                  'set style fill solid; set ylabel "GB/s (matrix bytes / query time)";'
                  f'set title "exact top-10, 384-d, {tmax} threads";'
                  + "plot " + ", ".join(f'"< grep -w {n} {dat}" using 3:xtic(1) title "N={n}"'
                                        for n in sizes))
        subprocess.run(["gnuplot", "-e", script], check=False)
        os.unlink(dat)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "faiss":
        faiss_run(a[1], int(a[2]), int(a[3]))
    elif a[0] == "mount":
        mount_run(a[1], int(a[2]), int(a[3]), a[4], float(a[5]))
    elif a[0] == "report":
        report(a[1], a[2], a[3] if len(a) > 3 else None)
