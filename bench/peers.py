#!/usr/bin/env python3
"""bench/peers.py - the parts of scripts/bench that run from Python.

  peers.py faiss WORKDIR N DIM        FAISS IndexFlatIP single query, 1 and 2 threads
                                      (and the process's peak RSS)
  peers.py mount WORKDIR N DIM RAGFS SECS   ragfs through a mount: query/ files
                                      (then remounted with RAGFS_VEC_BATCH=0, and
                                      with -o vec_compress=int8), and the daemon's
                                      peak and current RSS
  peers.py report TSV OUT.md [PNG]    the markdown tables (and gnuplot PNG, 384-d)

Data (data.f32, queries.f32, truth.i32) comes from bench/vecbench.c. Output
lines are TSV: method N threads median_ms best_ms GB/s qps recall (the same
as vecbench's and tests/llamaindex-ts/query-bench.mjs's "llamats" line), and
mem WHO N peak_bytes rss_bytes matrix_bytes. scripts/bench appends "@DIM" to
the first field of every line measured at a dim other than 384
("ragfs@768"); report renders one section per dim, 384 first.
"""
import json, os, shutil, statistics, subprocess, sys, threading, time

from benchmount import Mount, proc_mem

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
    # Peak: numpy's rows + the index's own copy (IndexFlatIP.add copies).
    peak, rss = proc_mem("self")
    print(f"mem\tfaiss\t{n}\t{peak}\t{rss}\t{n * dim * 4}", flush=True)


def mem_line(who, m, n, dim):
    """The daemon's peak and current RSS next to the matrix bytes."""
    peak, rss = m.mem()
    print(f"mem\t{who}\t{n}\t{peak}\t{rss}\t{n * dim * 4}", flush=True)


def mount_run(work, n, dim, ragfs, secs):
    import numpy as np
    x, q, t = load(work, n, dim)
    m = Mount(ragfs, "ragfs-bench-mnt.")
    m.start(f"embed=none,dim={dim}")
    try:
        s = time.perf_counter()
        m.put_rows(x, n)
        m.settle()
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
        mem_line("mount", m, n, dim)  # loaded, and its first queries answered
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
        mem_line("mount_int8", m, n, dim)
        throughput("mountqps_int8")
    finally:
        m.stop()
        m.close()


def split_dim(key):
    """'ragfs@768' -> ('ragfs', 768); untagged lines are 384-d."""
    m, _, d = key.partition("@")
    return m, int(d) if d else 384


def report(tsv, out, png):
    dims, skips, notes = {}, [], []

    def at(dim):
        return dims.setdefault(dim, {"rows": {}, "noise": {}, "qinfo": {}, "binfo": {},
                                     "mem": {}})
    for line in open(tsv):
        f = line.rstrip("\n").split("\t")
        kind, dim = split_dim(f[0])
        if kind == "qinfo":
            at(dim)["qinfo"][(f[1], int(f[2]))] = [float(x) for x in f[3:]]
        elif kind == "binfo":
            at(dim)["binfo"][(int(f[1]), int(f[2]))] = float(f[3])
        elif kind == "noise":
            at(dim)["noise"].setdefault(int(f[1]), []).append(float(f[2]))
        elif kind == "mem":
            at(dim)["mem"][(f[1], int(f[2]))] = [float(x) for x in f[3:6]]
        elif kind == "skip":
            skips.append(f[2] + ("" if dim == 384 else f" ({dim}-d)"))
        elif kind == "note":
            notes.append(f[1])
        elif len(f) == 8:
            at(dim)["rows"][(kind, int(f[1]), int(f[2]))] = f[3:]
    o = []
    for i, dim in enumerate(sorted(dims)):
        o += section(dim, dims[dim], i == 0)
    o += ["", "## Noise", ""]
    for dim in sorted(dims):
        noise = dims[dim]["noise"]
        for n in sorted(noise):
            o.append(f"- N={n:,}{'' if dim == 384 else f', {dim}-d'}: other processes used "
                     f"{', '.join(f'{v:.0f}' for v in noise[n])} % "
                     "of the machine's CPU during the in-process measurements.")
    o += [f"- {s}" for s in skips + notes]
    o.append("- Two-thread figures on this 2-vCPU VM swing between runs (host contention); "
             "compare ratios from one run, not absolute times.")
    open(out, "w").write("\n".join(o) + "\n")
    if png and shutil.which("gnuplot") and 384 in dims:
        plot(dims[384]["rows"], out, png)


NAMES = [("dot", "dot pass, no selection (bandwidth limit)"), ("ragfs", "ragfs vecindex_search"),
         ("sgemv", "OpenBLAS sgemv + heap"), ("faiss", "FAISS IndexFlatIP (Debian)"),
         ("llamats", "LlamaIndex.TS SimpleVectorStore.query (Node.js)"),
         ("mount", "ragfs through the mount (query/ file read)"),
         ("batch64", "ragfs sgemm batch of 64 queries, per query"),
         ("int8", "ragfs int8 copy + exact re-rank (vec_compress=int8)"),
         ("fp16", "ragfs fp16 copy + exact re-rank (vec_compress=fp16)"),
         ("batch64_int8", "ragfs batch of 64 queries with the int8 copy (sgemm on the floats), per query"),
         ("batch64_fp16", "ragfs batch of 64 queries with the fp16 copy (sgemm on the floats), per query"),
         ("mount_int8", "ragfs through the mount, vec_compress=int8")]


def section(dim, d, first):
    """The tables and ratios of one dim; the first is the document's head."""
    rows, qinfo, binfo, mem = d["rows"], d["qinfo"], d["binfo"], d["mem"]
    sizes = sorted({k[1] for k in rows})
    thr = sorted({k[2] for k in rows if k[0] == "dot"})
    tmax = max(thr) if thr else 1

    def cell(m, n, t, col=0):
        r = rows.get((m, n, t))
        return r[col] if r else "—"

    def ms(m, n, t):
        r = rows.get((m, n, t))
        return float(r[0]) if r else None
    if first:
        o = [f"# Exact top-10 cosine search, {dim}-d clustered embeddings", ""]
        o.append("Generated by `scripts/bench`. Median of per-round medians (ms per query); "
                 "GB/s = matrix bytes / median time; recall@10 against a double brute force.")
        ratios = "## Ratios against the targets (same run)"
    else:
        o = ["", f"## {dim}-d clustered embeddings (same run, same method)"]
        ratios = f"### Ratios against the targets, {dim}-d (same run)"
    o.append("")
    hdr = "| method | threads | " + " | ".join(f"N={n:,}: ms (best) | GB/s | recall" for n in sizes) + " |"
    o += [hdr, "|" + "---|" * (2 + 3 * len(sizes))]
    for m, label in NAMES:
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
                     ("bqps_int8", "in-process, coalesced, int8 copy (batches under 24 scan the codes)"),
                     ("bqps_fp16", "in-process, coalesced, fp16 copy (batches under 24 scan the codes)"),
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
    o += ["", ratios, ""]
    o += ["| N | ratio | value | target |", "|---|---|---|---|"]
    for n in sizes:
        for t in thr:
            dt, r = ms("dot", n, t), ms("ragfs", n, t)
            if dt and r:
                v = dt / r
                o.append(f"| {n:,} | ragfs scan / dot-pass bandwidth, {t} thread(s) | "
                         f"**{v:.2f}x** | >= 0.9x {'met' if v >= 0.9 else 'NOT met'} |")
        r1, rt = ms("ragfs", n, 1), ms("ragfs", n, tmax)
        fa = min([v for v in (ms("faiss", n, 1), ms("faiss", n, tmax)) if v] or [0])
        if fa and rt:
            v = fa / rt
            o.append(f"| {n:,} | ragfs ({tmax}T) vs best FAISS IndexFlatIP single query | "
                     f"**{v:.1f}x** faster | >= 4x {'met' if v >= 4 else 'NOT met'} |")
        if fa and r1:
            o.append(f"| {n:,} | ragfs (1T) vs best FAISS IndexFlatIP single query | "
                     f"{fa / r1:.1f}x faster | (same-thread view) |")
        lt = ms("llamats", n, 1)
        if lt and rt:
            v = lt / rt
            o.append(f"| {n:,} | ragfs ({tmax}T) vs LlamaIndex.TS SimpleVectorStore | "
                     f"**{v:.0f}x** faster | >= 100x {'met' if v >= 100 else 'NOT met'} |")
        ct = ms("int8", n, tmax)
        if lt and ct:
            v = lt / ct
            o.append(f"| {n:,} | ragfs int8 copy + exact re-rank ({tmax}T, recall "
                     f"{rows[('int8', n, tmax)][4]}) vs LlamaIndex.TS SimpleVectorStore | "
                     f"**{v:.0f}x** faster | >= 100x {'met' if v >= 100 else 'NOT met'} |")
        s = ms("sgemv", n, tmax)
        if s and rt:
            o.append(f"| {n:,} | ragfs vs sgemv + heap ({tmax}T) | {s / rt:.2f}x faster | |")
        # The daemon searches with the default split, as filt0 ran (tmax).
        mq, f0 = ms("mount", n, 1), ms("filt0", n, tmax)
        if mq and f0:
            v = mq - f0
            o.append(f"| {n:,} | mount single query minus in-process `query_run`, no filter "
                     f"({tmax}T) | **{v:+.2f} ms** | <= 0.5 ms {'met' if v <= 0.5 else 'NOT met'} |")
        if mq and rt:
            o.append(f"| {n:,} | mount single query minus ragfs vecindex_search ({tmax}T) | "
                     f"{mq - rt:+.2f} ms | (reference) |")
        for who, label in (("mount", "ragfs daemon"),
                           ("mount_int8", "ragfs daemon, vec_compress=int8"),
                           ("faiss", "FAISS python process (numpy rows + index copy)")):
            mm = mem.get((who, n))
            if mm:
                peak, rss, mat = mm
                o.append(f"| {n:,} | {label} peak RSS / matrix bytes (peak {peak / 1e6:.0f} MB, "
                         f"now {rss / 1e6:.0f} MB, matrix {mat / 1e6:.0f} MB) | "
                         f"**{peak / mat:.2f}x** | |")
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
        # The target is about the default (float) path; the int8 row shows
        # how little is left to batch once one query is that cheap.
        for alone, many, label, target in (("qps", "bqps", "in-process", 1),
                                           ("mountqps", "mountqps", "through the mount", 1),
                                           ("bqps_int8", "bqps_int8", "in-process, int8 copy", 0)):
            a, b = rows.get((alone, n, 1)), rows.get((many, n, 64))
            if a and b:
                v = float(b[3]) / float(a[3])
                o.append(f"| {n:,} | 64 concurrent readers vs one at a time, {label} (QPS) | "
                         f"**{v:.1f}x** | " +
                         (f">= 4x {'met' if v >= 4 else 'NOT met'} |" if target else "|"))
        for r_ in (8, 64):
            a, b = rows.get(("bqps", n, r_)), rows.get(("bqps_int8", n, r_))
            if a and b:
                o.append(f"| {n:,} | coalesced int8 copy vs coalesced floats, {r_} readers (QPS) | "
                         f"{float(b[3]) / float(a[3]):.1f}x | |")
            a, b = rows.get(("qps", n, r_)), rows.get(("bqps", n, r_))
            if a and b:
                o.append(f"| {n:,} | coalesced vs alone, {r_} readers in-process (QPS) | "
                         f"{float(b[3]) / float(a[3]):.1f}x | |")
            a, b = rows.get(("mountqps_nb", n, r_)), rows.get(("mountqps", n, r_))
            if a and b:
                o.append(f"| {n:,} | coalesced vs alone, {r_} readers through the mount (QPS) | "
                         f"{float(b[3]) / float(a[3]):.1f}x | |")
    return o


def plot(rows, out, png):
    """GB/s per method and N (384-d rows), with gnuplot."""
    sizes = sorted({k[1] for k in rows})
    thr = sorted({k[2] for k in rows if k[0] == "dot"})
    tmax = max(thr) if thr else 1

    def ms(m, n, t):
        r = rows.get((m, n, t))
        return float(r[0]) if r else None
    dat = out + ".dat"
    with open(dat, "w") as f:
        for m, label in NAMES:
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
