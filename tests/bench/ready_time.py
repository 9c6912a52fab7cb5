#!/usr/bin/python3
"""Start kaohed and time it from exec to READY=1 (the systemd protocol).

usage: ready_time.py TIMEOUT KAOHED ARGS...

Binds a datagram socket, points NOTIFY_SOCKET at it, starts kaohed in its
own session and waits for READY=1.  Prints "pid=N ready_s=S rss_mb=M" and
leaves kaohed running (its later notifications find the socket gone).
Exit 1 when it is not ready in TIMEOUT seconds or exits before.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

timeout = float(sys.argv[1])
cmd = sys.argv[2:]
sockdir = tempfile.mkdtemp()
path = os.path.join(sockdir, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path)
t0 = time.monotonic()
p = subprocess.Popen(cmd, env=env, start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=open(os.devnull, "w"))
# Every message is read as it comes (the queue holds 10 on a fresh Debian),
# and a kaohed that ends before READY=1 is seen at once.
s.settimeout(0.5)
while True:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        if p.poll() is not None:
            sys.exit(f"ready_time.py: kaohed exited with status {p.returncode} before READY=1")
        if time.monotonic() - t0 > timeout:
            p.kill()
            sys.exit(f"ready_time.py: no READY=1 in {timeout} s")
        continue
    if "READY=1" in msg.split("\n"):
        break
ready = time.monotonic() - t0
rss = 0
for line in open(f"/proc/{p.pid}/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) // 1024
print(f"pid={p.pid} ready_s={ready:.3f} rss_mb={rss}")
os.unlink(path)
os.rmdir(sockdir)
