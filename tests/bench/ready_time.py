#!/usr/bin/python3
"""Start kaohed and time it from exec to READY=1 (the systemd protocol).

usage: ready_time.py TIMEOUT KAOHED ARGS...

Binds a datagram socket, points NOTIFY_SOCKET at it, starts kaohed in its
own session and waits for READY=1.  Prints "pid=N ready_s=S rss_mb=M" and
leaves kaohed running.  Exit 1 when it is not ready in TIMEOUT seconds.
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
s.settimeout(timeout)
try:
    while True:
        msg = s.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            break
except socket.timeout:
    p.kill()
    sys.exit(f"ready_time.py: no READY=1 in {timeout} s")
ready = time.monotonic() - t0
rss = 0
for line in open(f"/proc/{p.pid}/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) // 1024
print(f"pid={p.pid} ready_s={ready:.3f} rss_mb={rss}")
os.unlink(path)
os.rmdir(sockdir)
