"""bench/benchmount.py - ragfs through a mount, for bench/peers.py and
bench/annpeers.py (imported from beside them: both run as scripts, so their
directory is on sys.path).

Mount(ragfs, prefix) makes a scratch directory (store/, mnt/, daemon.log);
Mount(ragfs, base=DIR) uses DIR instead and keeps it (a store built once and
measured by several runs, bench/coldstart.py). start() runs the daemon in the foreground and returns once mnt/ is mounted,
stop() unmounts and waits for it, mem() reads the daemon's peak and current
RSS, put_rows() writes rows as vector_store/node-<i>.f32 files, settle()
waits for the daemon's flush of them, close() removes it all.
"""
import os, shutil, struct, subprocess, tempfile, threading, time


def proc_mem(pid):
    """(VmHWM, VmRSS) of /proc/PID ("self" too) in bytes."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                got[k] = int(v.split()[0]) * 1024
    return got["VmHWM"], got["VmRSS"]


class Mount:
    def __init__(self, ragfs, prefix="ragfs-bench.", base=None):
        self.ragfs = ragfs
        self.keep = base is not None
        self.base = base or tempfile.mkdtemp(prefix=prefix)
        self.store = os.path.join(self.base, "store")
        self.mnt = os.path.join(self.base, "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        self.log = open(os.path.join(self.base, "daemon.log"), "a")
        self.d = None

    def start(self, opts, env=None):
        """ragfs -f -o OPTS store mnt, with env added to ours; waits up to
        60 s for the mount (polling every 5 ms: mount times are measured)."""
        self.d = subprocess.Popen([self.ragfs, "-f", "-o", opts, self.store, self.mnt],
                                  stderr=self.log, env=dict(os.environ, **(env or {})))
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if os.path.ismount(self.mnt):
                return
            if self.d.poll() is not None:
                raise RuntimeError("ragfs did not mount: see " + self.log.name)
            time.sleep(0.005)
        raise RuntimeError("ragfs did not mount in time")

    def stop(self, timeout=120):
        """Unmounts and waits for the daemon (it writes its files on the
        way out); returns the seconds that took."""
        s = time.perf_counter()
        subprocess.run(["fusermount3", "-u", self.mnt])
        self.d.wait(timeout=timeout)
        return time.perf_counter() - s

    def mem(self):
        """The daemon's (VmHWM, VmRSS) in bytes (ragfs -f does not fork: the
        Popen is the daemon)."""
        return proc_mem(self.d.pid)

    def put_rows(self, x, n):
        """Rows x[0..n) as vector_store/node-%07d.f32, from 8 threads."""
        vs = os.path.join(self.mnt, "vector_store")

        def put(lo, hi):
            for i in range(lo, hi):
                with open(os.path.join(vs, f"node-{i:07d}.f32"), "wb") as f:
                    f.write(x[i].tobytes())
        ths = [threading.Thread(target=put, args=(n * j // 8, n * (j + 1) // 8)) for j in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()

    def compact(self):
        """Make the store one snapshot segment (with its vector block), as
        a store written for a while is: 17 flushes of one scratch row pass
        the compaction threshold (16 segments); the row is then removed."""
        p = os.path.join(self.mnt, "vector_store", "_compact.f32")
        dim = len(open(os.path.join(self.mnt, "vector_store", "node-0000000.f32"), "rb").read()) // 4
        for i in range(17):
            with open(p, "wb") as f:
                f.write(struct.pack(f"<{dim}f", *([float(i + 1)] * dim)))
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        os.unlink(p)

    def settle(self, secs=1.0):
        """fsync(2) one row (the daemon flushes its journal to a segment),
        then wait: timings start with no flush running in the background."""
        fd = os.open(os.path.join(self.mnt, "vector_store", "node-0000000.f32"), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        time.sleep(secs)

    def close(self):
        self.log.close()
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)
