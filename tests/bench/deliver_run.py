#!/usr/bin/python3
"""One run of the webhook delivery benchmark: start kaohed on a fresh
state directory, wait for READY=1, wait until the sink (nginx) has logged
every delivery, and work out the figures from nginx's access log.

usage: deliver_run.py KAOHED KAOHECTL CONF STATE_DIR ACCESS_LOG OFFSET
                      UNITS SLOT_EPOCH TIMEOUT LOGFILE

ACCESS_LOG lines (from OFFSET on) are
  "$msec $request_method $uri $status $http_x_kaohe_delivery $content_length
   $connection $connection_requests".
SLOT_EPOCH is the reminder instant (Unix seconds).  TIMEOUT is how long
after it everything must have arrived.  kaohed's stderr goes to LOGFILE,
each line prefixed with the wall time it was seen (10 ms resolution).
With PERF_DATA=FILE in the environment, `perf record -g` (or with
PERF_OPTS instead of -g) profiles kaohed from READY=1 until every
delivery is in.

Prints the run's figures and last a line
  "RESULT ok=1 rate=… rate_due=… due_last=… first_last=… …";
exits 1 on a failure (not ready, due instant passed before READY=1,
deliveries missing after TIMEOUT, kaohed died).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

POLL = 0.01


def vm(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return -1


def cpu_seconds(pid):
    """User and system CPU seconds of PID (all threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tck, int(fields[12]) / tck
    except (OSError, IndexError, ValueError):
        return -1.0, -1.0


class Tail:
    """New complete lines of a growing file, from OFFSET on."""

    def __init__(self, path, offset=0):
        self.f = open(path, "rb")
        self.f.seek(offset)
        self.rest = b""

    def lines(self):
        data = self.f.read()
        if not data:
            return []
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut].decode("utf-8", "replace").splitlines()


def main():
    if len(sys.argv) != 11:
        sys.exit(__doc__)
    (kaohed, kaohectl, conf, state, access, offset, units, slot, timeout,
     logfile) = sys.argv[1:]
    offset, units, slot, timeout = int(offset), int(units), int(slot), float(timeout)
    ctl = os.path.join(state, "ctl.sock")

    sockdir = tempfile.mkdtemp(prefix="kaohe-notify-")
    npath = os.path.join(sockdir, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    raw = logfile + ".raw"
    rawf = open(raw, "wb")
    tlog = open(logfile, "w", encoding="utf-8")
    env = dict(os.environ, NOTIFY_SOCKET=npath)
    t_exec = time.time()
    p = subprocess.Popen([kaohed, "-c", conf, "-f", "--state-dir", state, "--socket", ctl],
                         env=env, stdin=subprocess.DEVNULL, stdout=rawf, stderr=rawf,
                         start_new_session=True)
    rawf.close()

    def on_term(signum, frame):
        if p.poll() is None:
            p.kill()
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    klog = Tail(raw)
    marks = {}   # first/last wall time of some log lines
    nlog = 0

    def pump_log():
        nonlocal nlog
        now = time.time()
        for line in klog.lines():
            nlog += 1
            tlog.write(f"{now:.3f} {line}\n")
            if "reminder (before)" in line:
                marks.setdefault("reminder_first", now)
                marks["reminder_last"] = now
            elif "deduction:" in line:
                marks.setdefault("deduction_first", now)
                marks["deduction_last"] = now
            elif "deliver:" in line:
                marks.setdefault("deliver_log_first", now)
                marks["deliver_log_last"] = now
                marks["deliver_log_n"] = marks.get("deliver_log_n", 0) + 1

    def terminate(timeout):
        """SIGTERM, then SIGKILL after TIMEOUT seconds; whether kaohed ended by itself."""
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return False

    def fail(msg):
        pump_log()
        tlog.flush()
        print(f"FAIL: {msg}", flush=True)
        if p.poll() is None:
            terminate(10)
        try:
            with open(logfile, encoding="utf-8") as f:
                tail = f.readlines()[-15:]
            print("kaohed's last log lines:\n" + "".join("  " + l for l in tail), end="")
        except OSError:
            pass
        print("RESULT ok=0", flush=True)
        sys.exit(1)

    def stop():
        t = time.time()
        if not terminate(30):
            return -1.0
        return time.time() - t

    # READY=1
    ready_timeout = 60 + units / 1000
    ns.settimeout(0.05)
    ready = None
    while ready is None:
        try:
            msg = ns.recv(4096).decode("utf-8", "replace")
            if "READY=1" in msg.split("\n"):
                ready = time.time()
        except socket.timeout:
            pass
        pump_log()
        if p.poll() is not None:
            fail(f"kaohed exited with status {p.returncode} before READY=1")
        if time.time() - t_exec > ready_timeout:
            fail(f"no READY=1 within {ready_timeout:.0f} s")
    ns.close()
    os.unlink(npath)
    os.rmdir(sockdir)
    rss_ready = vm(p.pid, "VmHWM")
    cpu_ready = cpu_seconds(p.pid)
    lead = slot - ready
    print(f"  exec to READY=1: {ready - t_exec:.3f} s, peak RSS so far {rss_ready} MB; "
          f"the reminder instant is {lead:.2f} s after READY=1", flush=True)
    if lead < 0.2:
        fail(f"the reminder instant was {-lead:.2f} s before READY=1: raise LEAD")

    # PERF_DATA=FILE: profile kaohed from READY=1 until every delivery is in.
    perf = None
    if os.environ.get("PERF_DATA"):
        opts = os.environ.get("PERF_OPTS", "-g").split()
        perf = subprocess.Popen(["perf", "record", *opts, "-q", "-o", os.environ["PERF_DATA"],
                                 "-p", str(p.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    # Wait for every delivery at the sink.
    acc = Tail(access, offset)
    ids = {}            # delivery id -> times seen
    times = []          # $msec of each 204 delivery
    statuses = {}
    bytes_total = 0
    conns = set()
    others = 0
    hwm_max = rss_ready
    deadline = slot + timeout
    last_hwm = 0.0
    while True:
        pump_log()
        for line in acc.lines():
            f = line.split()
            if len(f) < 5 or f[1] != "POST" or f[2] != "/hook":
                others += 1
                continue
            statuses[f[3]] = statuses.get(f[3], 0) + 1
            if f[3] != "204":
                continue
            times.append(float(f[0]))
            ids[f[4]] = ids.get(f[4], 0) + 1
            if len(f) > 5 and f[5].isdigit():
                bytes_total += int(f[5])
            if len(f) > 6:
                conns.add(f[6])
        now = time.time()
        if now - last_hwm > 0.1:
            h = vm(p.pid, "VmHWM")
            hwm_max = max(hwm_max, h)
            last_hwm = now
        if len(ids) >= units:
            break
        if p.poll() is not None:
            fail(f"kaohed exited with status {p.returncode}; {len(ids)} of {units} delivered")
        if now > deadline:
            fail(f"{len(ids)} of {units} deliveries at the sink {timeout:.0f} s after the "
                 f"reminder instant (statuses {statuses})")
        time.sleep(POLL)

    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()

    # The outbox's own account: every row sent (the last answers are
    # recorded on the deliverer's next turn).
    counts = {}
    t_end = time.time() + 10
    while time.time() < t_end:
        r = subprocess.run([kaohectl, "-s", ctl, "--json", "outbox", "sent"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            try:
                counts = json.loads(r.stdout)["data"]["counts"]
            except (ValueError, KeyError, TypeError):
                counts = {}
            if counts.get("sent") == units:
                break
        time.sleep(0.1)
    pump_log()
    hwm = max(hwm_max, vm(p.pid, "VmHWM"))
    rss_now = vm(p.pid, "VmRSS")
    cpu = cpu_seconds(p.pid)
    stop_s = stop()
    pump_log()
    tlog.close()

    first, last = min(times), max(times)
    n = len(times)
    dup = n - len(ids)
    expect = {str(i) for i in range(1, units + 1)}
    not_seq = len(set(ids) - expect)
    span = last - first
    rate = units / span if span > 0 else float("inf")
    rate_due = units / (last - slot) if last > slot else float("inf")
    cpu_d = (cpu[0] - cpu_ready[0], cpu[1] - cpu_ready[1])

    print(f"  delivered: {len(ids)} distinct X-Kaohe-Delivery ids of {units} "
          f"({n} POSTs answered 204, {dup} duplicate{'s' if dup != 1 else ''}, "
          f"{not_seq} id{'s' if not_seq != 1 else ''} outside 1..{units}; statuses {statuses})")
    print("  outbox counts after delivery: "
          + (", ".join(f"{k} {v}" for k, v in counts.items()) or "(kaohectl gave none)"))
    print(f"  reminder instant -> first delivery: {first - slot:.3f} s")
    print(f"  reminder instant -> last delivery:  {last - slot:.3f} s   (target <= 2 s)")
    print(f"  first -> last delivery:             {span:.3f} s")
    print(f"  deliveries/s (first -> last):       {rate:.0f}   (target >= 20000)")
    print(f"  deliveries/s (instant -> last):     {rate_due:.0f}")
    print(f"  mean request body: {bytes_total / n:.0f} bytes; {len(conns)} TCP connections to the sink "
          f"({n / max(1, len(conns)):.0f} requests each on average)")
    if "reminder_first" in marks:
        print(f"  kaohed log: 'reminder (before)' lines seen {marks['reminder_first'] - slot:+.3f} s"
              f" to {marks['reminder_last'] - slot:+.3f} s after the instant "
              f"(10 ms resolution)")
    if "deduction_first" in marks:
        d0, d1 = marks["deduction_first"], marks["deduction_last"]
        inside = d0 < last and d1 > first - 0.1
        print(f"  kaohed log: the deadline's 'deduction:' lines seen {d0 - slot:+.3f} s to "
              f"{d1 - slot:+.3f} s after the instant"
              + ("  <- the deadline step ran inside the delivery window" if inside else ""))
    if "deliver_log_n" in marks:
        print(f"  kaohed log: {marks['deliver_log_n']} 'deliver:' lines (failures, cancellations)")
    print(f"  kaohed CPU from READY=1 to the end: user {cpu_d[0]:.2f} s, sys {cpu_d[1]:.2f} s")
    print(f"  kaohed peak RSS (VmHWM): {hwm} MB (target <= 200 MB); VmRSS at the end {rss_now} MB; "
          f"stopped in {stop_s:.2f} s")
    ok = len(ids) == units and counts.get("sent") == units
    if counts.get("sent") != units:
        print(f"  WARNING: the outbox counts {counts.get('sent')} sent, not {units}")
    print(f"RESULT ok={int(ok)} rate={rate:.1f} rate_due={rate_due:.1f} "
          f"due_first={first - slot:.3f} due_last={last - slot:.3f} first_last={span:.3f} "
          f"hwm={hwm} dup={dup} sent={counts.get('sent', -1)} "
          f"body={bytes_total // n if n else 0} ready={ready - t_exec:.3f}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
