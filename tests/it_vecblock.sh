#!/usr/bin/env bash
# The mapped matrix (layout version 2) through real mounts: 6,000 x 256
# vectors (6 MiB) written as vector_store/ files, compacted into a snapshot
# segment with a vector block; after a remount the daemon's matrix is a
# mapping of that segment file (the store's own on local disk, cache_dir's
# copy on s3://), every vector reads back bit for bit and queries find
# them; changes on top of the mapped rows (overwrite, delete, add) survive
# remounts, a SIGKILL (the journal replayed over the mapped rows) and a
# second compaction; on s3:// a remount from an empty cache
# dir (a new machine) sees everything and maps too, and a cache_mb below the
# snapshot's size copies the rows instead; on local disk a damaged block fails
# the mount with one line naming the segment, and the store mounts again
# once the file is repaired.
. "$(dirname "$0")/lib.sh"
ALLOW_LOG="is unreadable"
setup
OPTS=embed=none,dim=256
CACHE=$STORE/.ragfs-local
[ "${RAGFS_TEST_S3:-0}" = 1 ] && CACHE=$WORK/cache

cat > "$WORK/vecs.py" <<'PY'
import hashlib, json, os, random, struct, sys
m, cmd = sys.argv[1], sys.argv[2]
DIM = 256
state_file = os.environ["STATE"]

def vec(seed):
    r = random.Random(seed)
    return struct.pack(f"<{DIM}f", *[r.gauss(0, 1) for _ in range(DIM)])

def load():
    return json.load(open(state_file)) if os.path.exists(state_file) else {}

def save(s):
    json.dump(s, open(state_file, "w"))

def write(s, vid, seed):
    with open(f"{m}/vector_store/{vid}.f32", "wb") as f:
        f.write(vec(seed))
    s[vid] = seed

if cmd == "fill":  # fill N: N vectors v0..v{N-1}
    s = load()
    for i in range(int(sys.argv[3])):
        write(s, f"v{i}", i)
    save(s)
elif cmd == "flushes":  # flushes N: N small commits, each made durable (a segment each)
    s = load()
    for i in range(int(sys.argv[3])):
        write(s, f"f{i}", 10**6 + i)
        fd = os.open(f"{m}/vector_store/f{i}.f32", os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    save(s)
elif cmd == "change":  # overwrite 20, delete 20, add 20
    s = load()
    r = random.Random(int(sys.argv[3]))
    ids = sorted(s)
    for vid in r.sample(ids, 20):
        write(s, vid, r.randrange(10**9))
    for vid in r.sample(sorted(s), 20):
        os.unlink(f"{m}/vector_store/{vid}.f32")
        del s[vid]
    for i in range(20):
        write(s, f"n{r.randrange(10**9)}", r.randrange(10**9))
    save(s)
elif cmd == "check":  # every vector reads back exactly, nothing else is there
    s = load()
    have = {f[:-4] for f in os.listdir(f"{m}/vector_store") if f.endswith(".f32") and f != "matrix.f32"}
    bad = [v for v in s if open(f"{m}/vector_store/{v}.f32", "rb").read() != vec(s[v])]
    print(f"{len(s)} {len(have ^ set(s))} {len(bad)}")
elif cmd == "query":  # 20 stored vectors as queries: each finds itself first, score 1
    s = load()
    r = random.Random(7)
    found = 0
    for vid in r.sample(sorted(s), 20):
        q = list(struct.unpack(f"<{DIM}f", vec(s[vid])))
        with open(f"{m}/query/q.json", "w") as f:
            json.dump({"embedding": q, "top_k": 3}, f)
        res = json.load(open(f"{m}/query/q.json"))["results"]
        found += res[0]["node_id"] == vid and abs(res[0]["score"] - 1) < 1e-6
    print(found)
elif cmd == "compactions":
    print(json.load(open(f"{m}/.ragfs/stats.json"))["operations"]["compactions"])
PY
export STATE=$WORK/state.json
vecs() { python3 "$WORK/vecs.py" "$MNT" "$@"; }

# The daemon maps a .seg file of at least 4 MiB, read-write private (the
# matrix; the replay's own mappings are read-only and gone after mount).
matrix_mapped() {
	python3 - "/proc/$DPID/maps" <<'PY'
import sys
big = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 6 and f[5].endswith(".seg") and f[1].startswith("rw-p"):
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        big += hi - lo >= 4 << 20
sys.exit(0 if big else 1)
PY
}

check_all() { # check_all WHAT
	is "$(vecs check | cut -d' ' -f2-)" "0 0" "$1: every vector reads back bit for bit, no others"
	is "$(vecs query)" 20 "$1: 20 stored vectors as queries find themselves (score 1)"
}

rmount -o "$OPTS"; ok $? "mount (embed=none, dim=256)"
vecs fill 6000
echo "a document beside the vectors" >"$MNT/docs/a.txt"
vecs flushes 17
ok "$([ "$(vecs compactions)" -ge 1 ]; echo $?)" "17 flushes compacted the store"
check_all "before the remount"
rumount; ok $? "unmount"
if [ "${RAGFS_TEST_S3:-0}" = 1 ]; then
	MAN=$(python3 "$(dirname "$0")/s3_obj.py" get "$STORE/manifest.json")
else
	MAN=$(cat "$STORE/manifest.json")
fi
is "$(python3 -c 'import json, sys; m = json.loads(sys.argv[1]); print(m["version"], sum(1 for s in m["segments"] if s.get("vector_block")))' "$MAN")" \
	"2 1" "the manifest is layout version 2 with one vector-block segment"

rmount -o "$OPTS"; ok $? "remount"
ok "$(matrix_mapped; echo $?)" "the matrix is a mapping of the snapshot segment file"
check_all "after the remount"
is "$(cat "$MNT/docs/a.txt")" "a document beside the vectors" "the records came back with the block"

vecs change 1
check_all "after changes to the mapped rows"
rumount; ok $? "unmount"
rmount -o "$OPTS"; ok $? "remount (the changes replayed over the mapped rows)"
check_all "after changes and a remount"
vecs change 2
rkill # the changes are in the journal only: replayed over the mapped rows
rmount -o "$OPTS"; ok $? "remount after SIGKILL"
ok "$(matrix_mapped; echo $?)" "the matrix is mapped again"
check_all "after changes, SIGKILL and the journal's replay"
vecs flushes 17 # a second compaction: a snapshot made from a mapped matrix
ok "$([ "$(vecs compactions)" -ge 1 ]; echo $?)" "compacted again"
rumount; ok $? "unmount"
rmount -o "$OPTS"; ok $? "remount after the second compaction"
ok "$(matrix_mapped; echo $?)" "the matrix is a mapping of the new snapshot"
check_all "after the second compaction"
rumount; ok $? "unmount"

if [ "${RAGFS_TEST_S3:-0}" = 1 ]; then
	rm -rf "$CACHE"
	rmount -o "$OPTS"; ok $? "remount from an empty cache dir (a new machine)"
	ok "$(matrix_mapped; echo $?)" "the matrix is a mapping of the copy just fetched into the cache"
	check_all "from an empty cache dir"
	rumount; ok $? "unmount"
	rm -rf "$CACHE"
	rmount -o "$OPTS,cache_mb=1"; ok $? "remount with cache_mb=1, below the snapshot's size"
	ok "$(! matrix_mapped; echo $?)" "the snapshot is not cached: its rows are copied, not mapped"
	check_all "with cache_mb=1"
	rumount; ok $? "unmount"
else
	SEG=$(python3 -c 'import json, sys; print([s["key"] for s in json.load(open(sys.argv[1]))["segments"] if s.get("vector_block")][0])' "$STORE/manifest.json")
	cp "$STORE/$SEG" "$WORK/seg.good"
	# A byte in the middle of the rows (the block starts past the frames).
	python3 - "$STORE/$SEG" <<'PY'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n - 64 - 3 * 1024 * 1024)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x10]))
PY
	rmount -o "$OPTS"; is $? 1 "a damaged vector block: the mount fails"
	is "$(grep -c "segment $SEG is unreadable" "$WORK/daemon.log")" 1 "one line names the segment"
	cp "$WORK/seg.good" "$STORE/$SEG"
	rmount -o "$OPTS"; ok $? "repaired: mounts again"
	check_all "after the repair"
	rumount; ok $? "unmount"
fi
done_testing
