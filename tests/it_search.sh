#!/usr/bin/env bash
# The search kernels through real mounts: nodes with embeddings and metadata
# written into docstore/, then query/ files checked against a brute force in
# Python (double cosines, ties ordered by id): unfiltered, filters the
# metadata index answers (1% and 10% "==", "in", and/or, number ranges on
# a key that also holds strings and booleans), filters it does not,
# node_ids. 24 concurrent readers: every answer equals the lone read and
# .ragfs/stats.json shows coalesced batches. Remounted with
# -o vec_compress=int8 and fp16: the same answers (compressed searches
# counted, config.json says so). A bad vec_compress is refused at mount.
. "$(dirname "$0")/lib.sh"
setup
DIM=48
N=3000
rmount -o embed=none,dim=$DIM
ok $? "mounted (embed=none, dim=$DIM)"

cat > "$WORK/search.py" <<'PY'
import json, math, os, random, sys, threading
m, mode, dim, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
work = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(11)

def tap(cond, msg):
    print(("ok - " if cond else "not ok - ") + msg, flush=True)

def node(i):
    return f"node-{i:05d}"

if mode == "write":
    vecs, meta = {}, {}
    tie = [rnd.uniform(-1, 1) for _ in range(dim)]
    for i in range(n):
        v = tie if i % 97 == 5 else [rnd.uniform(-1, 1) for _ in range(dim)]
        md = {"bucket": i % 100, "color": ["red", "green", "blue"][i % 3], "tenth": i % 10}
        # score: numbers from -1 to 8.99, some strings, booleans or missing
        if i % 7 == 3:
            md["score"] = str(i % 10)
        elif i % 13 == 6:
            md["score"] = bool(i % 2)
        elif i % 11 != 4:
            md["score"] = round((i * 37 % 1000) / 100.0 - 1, 2)
        vecs[node(i)], meta[node(i)] = v, md
        with open(f"{m}/docstore/{node(i)}.json", "w") as f:
            json.dump({"id_": node(i), "text": f"node {i}", "metadata": md, "embedding": v}, f)
    json.dump({"vecs": vecs, "meta": meta}, open(f"{work}/data.json", "w"))
    sys.exit(0)

data = json.load(open(f"{work}/data.json"))
vecs, meta = data["vecs"], data["meta"]
import struct
def f32(v):  # as the store keeps it
    return list(struct.unpack(f"<{len(v)}f", struct.pack(f"<{len(v)}f", *v)))
vecs = {k: f32(v) for k, v in vecs.items()}

def cos(a, b):
    d = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return 0.0 if na == 0 or nb == 0 else d / (na * nb)

def f32r(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def match(md, flt):
    if flt is None:
        return True
    conds = []
    for f in flt["filters"]:
        if "filters" in f:
            conds.append(match(md, f))
            continue
        v, op, b = md.get(f["key"]), f.get("operator", "=="), f["value"]
        if op in (">", ">=", "<", "<="):  # number with number, str with str
            num = lambda x: isinstance(x, (int, float))  # bools too
            if not (num(v) and num(b) or isinstance(v, str) and isinstance(b, str)):
                conds.append(False)
                continue
        conds.append({"==": lambda: v == b, "in": lambda: v in b, ">": lambda: v > b,
                      ">=": lambda: v >= b, "<": lambda: v < b, "<=": lambda: v <= b}[op]())
    return all(conds) if flt.get("condition", "and") == "and" else any(conds)

def brute(q, k, flt=None, ids=None):
    cand = [(f32r(cos(vecs[i], q)), i) for i in vecs
            if match(meta[i], flt) and (ids is None or i in ids)]
    cand.sort(key=lambda t: (-t[0], t[1]))
    return cand[:k]

def ask(name, req=None):
    if req is not None:
        with open(f"{m}/query/{name}", "w") as f:
            json.dump(req, f)
    with open(f"{m}/query/{name}") as f:
        return json.load(f)

def same(res, want):
    got = [(h["score"], h["node_id"]) for h in res.get("results", [])]
    return len(got) == len(want) and all(
        g[1] == w[1] and abs(g[0] - w[0]) <= 1e-6 * max(1, abs(w[0])) for g, w in zip(got, want))

F1 = {"filters": [{"key": "bucket", "value": 7}]}
F10 = {"filters": [{"key": "tenth", "value": 3}]}
FIN = {"filters": [{"key": "bucket", "operator": "in", "value": [1, 2, 3]}]}
FAND = {"filters": [{"key": "color", "value": "red"}, {"key": "tenth", "value": 4}], "condition": "and"}
FOR = {"filters": [{"key": "bucket", "value": 5}, {"key": "color", "value": "blue"}], "condition": "or"}
FRANGE = {"filters": [{"key": "bucket", "operator": ">=", "value": 7},
                      {"key": "bucket", "operator": "<=", "value": 7}]}
FGT = {"filters": [{"key": "score", "operator": ">", "value": 8.5}]}
FBETWEEN = {"filters": [{"key": "score", "operator": ">=", "value": 2},
                        {"key": "score", "operator": "<", "value": 2.5},
                        {"key": "color", "value": "red"}]}
FRANGEOR = {"filters": [{"key": "score", "operator": "<=", "value": -0.9},
                        {"key": "score", "operator": ">=", "value": True},
                        {"key": "bucket", "value": 5}], "condition": "or"}
FSTR = {"filters": [{"key": "score", "operator": "<", "value": "3"}]}
cases = [("unfiltered", None, None), ("1% ==", F1, None), ("10% ==", F10, None), ("in", FIN, None),
         ("and", FAND, None), ("or", FOR, None), ("1% as a range", FRANGE, None),
         ("a range over numbers, strings, booleans", FGT, None),
         ("two ranges and ==", FBETWEEN, None), ("ranges or ==", FRANGEOR, None),
         ("a range with a string bound (not indexed)", FSTR, None),
         ("node_ids", None, [node(i) for i in range(0, n, 37)]),
         ("== and node_ids", F10, [node(i) for i in range(3, n, 10)][:50])]
tie = vecs[node(5)]

if mode == "check":
    for name, flt, ids in cases:
        for qi, q in enumerate(([rnd.uniform(-1, 1) for _ in range(dim)], tie)):
            req = {"embedding": q, "top_k": 12}
            if flt:
                req["filters"] = flt
            if ids:
                req["node_ids"] = ids
            want = brute(f32(q), 12, flt, set(ids) if ids else None)
            res = ask(f"c{qi}", req)
            tap(same(res, want), f"{name}{' (tied rows)' if qi else ''}: {len(want)} hits "
                "equal the brute force")
    sys.exit(0)

if mode == "concurrent":
    # Without the indexed ranges: the string-bound range keeps a filter that
    # runs during the scan in the mix (slow enough for reads to coalesce).
    mix = [c for c in cases if c[1] not in (FRANGE, FGT, FBETWEEN, FRANGEOR)]
    reqs = []
    for i in range(48):
        flt, ids = mix[i % len(mix)][1:]
        req = {"embedding": [rnd.uniform(-1, 1) for _ in range(dim)], "top_k": 10}
        if flt:
            req["filters"] = flt
        if ids:
            req["node_ids"] = ids
        reqs.append(req)
    alone = [ask(f"p{i}", r)["results"] for i, r in enumerate(reqs)]
    st0 = json.load(open(f"{m}/.ragfs/stats.json"))["search"]
    bad = []
    def reader(t):
        for r in range(8):
            i = (t * 5 + r) % len(reqs)
            if ask(f"p{i}")["results"] != alone[i]:
                bad.append(i)
    ths = [threading.Thread(target=reader, args=(t,)) for t in range(24)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    st1 = json.load(open(f"{m}/.ragfs/stats.json"))["search"]
    tap(not bad, f"24 readers x 8 reads: every answer equals the lone read ({len(bad)} differ)")
    b = st1["coalesced_batches"] - st0["coalesced_batches"]
    tap(b > 0 and st1["largest_batch"] >= 2,
        f"concurrent reads were coalesced: {b} batches answered "
        f"{st1['coalesced_queries'] - st0['coalesced_queries']} queries, largest {st1['largest_batch']}")
    json.dump({"reqs": reqs, "alone": alone}, open(f"{work}/alone.json", "w"))
    sys.exit(0)

if mode == "compressed":
    kind = sys.argv[5]
    cfg = json.load(open(f"{m}/.ragfs/config.json"))
    tap(cfg.get("vec_compress") == kind, f"config.json: vec_compress {cfg.get('vec_compress')}")
    saved = json.load(open(f"{work}/alone.json"))
    reqs, alone = saved["reqs"], saved["alone"]
    st0 = json.load(open(f"{m}/.ragfs/stats.json"))["search"]
    diff = [i for i in range(len(alone)) if ask(f"p{i}", reqs[i])["results"] != alone[i]]
    st1 = json.load(open(f"{m}/.ragfs/stats.json"))["search"]
    tap(not diff, f"{kind}: 48 queries give the same hits and scores as float ({len(diff)} differ)")
    tap(st1["compressed_searches"] > st0["compressed_searches"],
        f"{kind}: {st1['compressed_searches'] - st0['compressed_searches']} searches scanned "
        f"the {kind} copy, {st1['compressed_second_passes'] - st0['compressed_second_passes']} "
        "needed a second pass")
PY

run_py() { # count the script's "ok - "/"not ok - " lines as our checks
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok 0 "${line#ok - }" ;;
		"not ok - "*) ok 1 "${line#not ok - }" ;;
		*) echo "# $line" ;;
		esac
	done < <(python3 "$WORK/search.py" "$MNT" "$@" 2>&1)
}

python3 "$WORK/search.py" "$MNT" write $DIM $N
ok $? "wrote $N nodes with embeddings and metadata into docstore/"
is "$(python3 -c "import json; print(json.load(open('$MNT/.ragfs/status.json'))['vectors'])")" "$N" \
	"status.json counts $N vectors"
run_py check $DIM $N
run_py concurrent $DIM $N
rumount
ok $? "unmounted (exit 0)"

for kind in int8 fp16; do
	rmount -o embed=none,dim=$DIM,vec_compress=$kind
	ok $? "remounted with -o vec_compress=$kind"
	run_py compressed $DIM $N $kind
	rumount
	ok $? "unmounted (exit 0)"
done

"$RAGFS" -f -o embed=none,vec_compress=int4 "${RAGFS_STORE_OPTS[@]}" "$STORE" "$MNT" \
	>"$WORK/bad.out" 2>&1
st=$?
is "$st" 1 "-o vec_compress=int4: exit 1"
check "the one line names the option" grep -q 'unknown vec_compress "int4"' "$WORK/bad.out"
is "$(wc -l <"$WORK/bad.out")" 1 "one line on stderr"
if is_mounted "$MNT"; then ok 1 "no mount left behind"; else ok 0 "no mount left behind"; fi
done_testing
