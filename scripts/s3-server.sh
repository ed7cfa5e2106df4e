#!/usr/bin/env bash
# scripts/s3-server.sh - a real, SigV4-checking S3 server on 127.0.0.1 for the
# S3 backend's tests: Ceph RADOS Gateway from Debian (package radosgw) on a
# throw-away one-node cluster (1 mon + 1 OSD, memstore, cephx off, pool size
# 1, no mgr, no systemd). Starts in about a second once installed.
#
# Usage (as root; installs radosgw ceph-mon ceph-osd from Debian if missing):
#   scripts/s3-server.sh [start]   start (or reuse a healthy running instance),
#                                  print the endpoint on stdout, write the env file
#   scripts/s3-server.sh stop      stop the instance (only the pids it recorded)
#   scripts/s3-server.sh status    exit 0 if it answers
#   scripts/s3-server.sh env       print the env file's path
# Then:  . "$(scripts/s3-server.sh env)" && meson test -C build s3
#
# The env file ($S3_DIR/env) sets RAGFS_S3_ENDPOINT, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION and RAGFS_S3_BUCKET (created empty).
#
# Environment (optional): S3_PORT (17480; the mon uses +1/+2, the OSD
# +10..+60), S3_DIR (${TMPDIR:-/tmp}/ragfs-s3-$S3_PORT, wiped at a fresh
# start), S3_ACCESS_KEY / S3_SECRET_KEY (testkey / testsecret), S3_BUCKET
# (ragfs-test), S3_DEBUG (0; >= 10 logs RGW's canonical request and string to
# sign to $S3_DIR/log/client.rgw.log), S3_MIN_PART (5242880).
#
# Addressing: path style at http://127.0.0.1:$S3_PORT/bucket/key, virtual-host
# style at http://bucket.localhost:$S3_PORT/key (RAGFS_S3_VHOST_ENDPOINT).
# RGW quirks the backend copes with: If-Match only matches an unquoted etag,
# and If-Match on a missing key is 412 (AWS: 404). Any region is accepted.
# Never runs apt-get autoremove (it can remove unrelated libraries).
set -euo pipefail
PORT=${S3_PORT:-17480}
D=${S3_DIR:-${TMPDIR:-/tmp}/ragfs-s3-$PORT}
AK=${S3_ACCESS_KEY:-testkey}
SK=${S3_SECRET_KEY:-testsecret}
BUCKET=${S3_BUCKET:-ragfs-test}
DEBUG=${S3_DEBUG:-0}
MINPART=${S3_MIN_PART:-5242880}
EP="http://127.0.0.1:$PORT"

die() { echo "s3-server: $*" >&2; exit 1; }

stop() {
	local f pid
	for f in rgw osd mon; do # this order: the OSD tells the mon it is going down
		[[ -f $D/$f.pid ]] || continue
		pid=$(cat "$D/$f.pid")
		rm -f "$D/$f.pid"
		# a stale pid file must not kill an unrelated process
		grep -qaE 'ceph-mon|ceph-osd|radosgw' "/proc/$pid/cmdline" 2>/dev/null || continue
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -9 "$pid" 2>/dev/null || true # state is disposable
	done
}

answers() { curl -s -o /dev/null --max-time 1 "$EP/"; }

alive() {
	local f
	for f in mon osd rgw; do
		[[ -f $D/$f.pid ]] && kill -0 "$(cat "$D/$f.pid")" 2>/dev/null || return 1
	done
	answers
}

# A signed CreateBucket (SigV4, python3 stdlib); 200 or 409 (exists) are fine.
create_bucket() {
	python3 - "$EP" "$1" "$AK" "$SK" <<'PY'
import datetime, hashlib, hmac, http.client, sys, urllib.parse
ep, bucket, ak, sk = sys.argv[1:5]
u = urllib.parse.urlsplit(ep)
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
ph = hashlib.sha256(b"").hexdigest()
hdrs = {"host": u.netloc, "x-amz-content-sha256": ph, "x-amz-date": amz}
names = sorted(hdrs)
creq = "\n".join(["PUT", "/" + bucket, "", "".join(f"{n}:{hdrs[n]}\n" for n in names),
                  ";".join(names), ph])
scope = f"{day}/us-east-1/s3/aws4_request"
sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, "
                         f"SignedHeaders={';'.join(names)}, Signature={sig}")
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("PUT", "/" + bucket, body=b"", headers={k2: v for k2, v in hdrs.items() if k2 != "host"})
r = c.getresponse(); r.read()
sys.exit(0 if r.status in (200, 409) else f"CreateBucket {bucket}: HTTP {r.status}")
PY
}

write_env() {
	umask 077
	cat > "$D/env" <<ENV
# written by scripts/s3-server.sh; source it before the S3 tests
export RAGFS_S3_ENDPOINT=$EP
export AWS_ACCESS_KEY_ID=$AK
export AWS_SECRET_ACCESS_KEY=$SK
export AWS_REGION=us-east-1
export RAGFS_S3_BUCKET=$BUCKET
export RAGFS_S3_VHOST_ENDPOINT=http://localhost:$PORT
unset AWS_SESSION_TOKEN
ENV
}

case ${1:-start} in
stop) stop; exit 0 ;;
status) alive; exit $? ;;
env) echo "$D/env"; exit 0 ;;
start) ;;
*) die "usage: $0 [start|stop|status|env]" ;;
esac

[[ $(id -u) -eq 0 ]] || die "must run as root (it starts ceph daemons and may apt-get install)"

# Idempotent: a healthy instance is reused as it is.
if alive && [[ -f $D/env ]]; then
	echo "$EP"
	exit 0
fi

# ---- install (Debian packages only; never apt-get autoremove here) ----
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null ||
   ! command -v ceph-mon >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-cache policy radosgw 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq
	apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null ||
		die "apt-get install radosgw ceph-mon ceph-osd failed"
fi
for t in curl python3 ceph-authtool monmaptool radosgw-admin ceph; do
	command -v "$t" >/dev/null || die "$t not found"
done

# ---- fresh state ----
stop 2>/dev/null || true
answers && die "port $PORT is taken by something else"
rm -rf "$D"
mkdir -p "$D"/{mon,osd0,run,log}
FSID=$(cat /proc/sys/kernel/random/uuid)
MONADDR="[v2:127.0.0.1:$((PORT + 1)),v1:127.0.0.1:$((PORT + 2))]"
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = $MONADDR
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $((PORT + 10))
ms bind port max = $((PORT + 60))
# no cephx inside this private cluster; S3 requests are still SigV4-checked
auth cluster required = none
auth service required = none
auth client required = none
# without it radosgw loops on "get_initial_auth_request returned -13"
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 2000
# start in ~1 s: commit monitor changes at once, tick every second
paxos propose interval = 0.01
paxos min wait = 0.001
mon tick interval = 1
osd mon shutdown timeout = 0.5
osd fast shutdown = true
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
keyring = $D/keyring
mon data = $D/mon
osd data = $D/osd0
# objects in the OSD's RAM (max 4 GiB): fast, and nothing to clean on disk
osd objectstore = memstore
memstore device bytes = 4294967296
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
# virtual-host style for http://<bucket>.localhost:$PORT (curl maps *.localhost to
# loopback); http://127.0.0.1:$PORT stays path style
rgw dns name = localhost
rgw thread pool size = 64
# retry ops queued before the OSD came up after 0.25 s, not 5 s
objecter tick interval = 0.25
rgw multipart min part size = $MINPART
# free deleted data within seconds (default: after 2 h)
rgw gc obj min wait = 1
rgw gc processor period = 5
debug rgw = $DEBUG
CONF
C=(-c "$D/ceph.conf")
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "$MONADDR" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" -i a --mkfs --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon "${C[@]}" -i a -f > "$D/log/mon.out" 2>&1 &
echo $! > "$D/mon.pid"
OSDUUID=$(cat /proc/sys/kernel/random/uuid)
ceph "${C[@]}" --connect-timeout 30 osd new "$OSDUUID" >/dev/null ||
	{ stop; die "ceph osd new failed; logs in $D/log"; }
ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSDUUID" > "$D/log/osd-mkfs.out" 2>&1 ||
	{ stop; die "ceph-osd --mkfs failed, see $D/log/osd-mkfs.out"; }
ceph-osd "${C[@]}" -i 0 -f > "$D/log/osd.out" 2>&1 &
echo $! > "$D/osd.pid"
radosgw "${C[@]}" -n client.rgw -f > "$D/log/rgw.out" 2>&1 &
echo $! > "$D/rgw.pid"
up=
for _ in $(seq 1 1200); do # up to 60 s
	if answers; then up=1; break; fi
	kill -0 "$(cat "$D/rgw.pid")" 2>/dev/null || break
	sleep 0.05
done
[[ -n $up ]] || { stop; die "radosgw did not answer; logs in $D/log"; }
radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
	--access-key="$AK" --secret-key="$SK" >/dev/null ||
	{ stop; die "radosgw-admin user create failed"; }
create_bucket "$BUCKET" || { stop; die "could not create bucket $BUCKET"; }
write_env
echo "s3-server: $EP (bucket $BUCKET; env file $D/env; stop: $0 stop)" >&2
echo "$EP"
