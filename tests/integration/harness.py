#!/usr/bin/python3
"""The integration tests' harness: kaohed started in the foreground on unix
sockets in temporary directories, kaohectl, temporary plans, and the
helpers the tests of the daemon, of delivery and of the publication share.

The tests are run as
    /usr/bin/python3 TEST.py KAOHED KAOHECTL CONFIG_DIR [...]
or with the environment variables KAOHED, KAOHECTL and KAOHE_CONFIG_DIR
(CONFIG_DIR is the repository's config/, holding the shipped kaohe.conf);
this module reads them when it is imported.

Readiness is the sd_notify READY=1 datagram on a socket the harness binds
(NOTIFY_SOCKET). Helpers poll with a short interval and a timeout.

Standard library only.
"""

import atexit
import datetime as dt
import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import unittest
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def _arg(i, env, default=None):
    if len(sys.argv) > i and sys.argv[i]:
        return sys.argv[i]
    return os.environ.get(env) or default


KAOHED = os.path.abspath(_arg(1, "KAOHED", os.path.join(REPO, "build", "kaohed")))
KAOHECTL = os.path.abspath(_arg(2, "KAOHECTL", os.path.join(REPO, "build", "kaohectl")))
CONFIG_DIR = os.path.abspath(_arg(3, "KAOHE_CONFIG_DIR", os.path.join(REPO, "config")))
SHIPPED_CONF = os.path.join(CONFIG_DIR, "kaohe.conf")

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
POLL = 0.1            # polling interval while waiting for the daemon
WAIT = 10.0           # the longest any single wait may take
UNIT_NAMES = {"bayilu": "八一路", "renminguangchang": "人民广场", "baiyun": "白云",
              "rixin": "日新", "xianglujiao": "香炉礁"}
TAG = "kaohe-t-%d" % os.getpid()   # prefix of the temporary users and groups


# ------------------------------------------------------------------ helpers

def now_local():
    return dt.datetime.now(TZ).replace(microsecond=0)


def iso(t):
    return t.isoformat()


def parse_instant(s):
    return dt.datetime.fromisoformat(s)


def display_width(s):
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else
               0 if unicodedata.combining(ch) else 1 for ch in s)


def utf8_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("LC_") or k in ("LANG", "LANGUAGE", "NOTIFY_SOCKET",
                                                 "WATCHDOG_USEC", "WATCHDOG_PID",
                                                 "KAOHE_SOCKET"))}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra)
    return env


def wait_until(pred, timeout=WAIT, interval=POLL, what="condition"):
    """Poll PRED until it returns a true value; that value, or AssertionError."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def recv_line(sock, timeout=WAIT):
    """One answer line from SOCK (bytes, without the newline); None at EOF/reset."""
    sock.settimeout(timeout)
    buf = b""
    while b"\n" not in buf:
        try:
            d = sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            return buf if buf else None
        buf += d
    line, _, rest = buf.partition(b"\n")
    if rest:
        # keep it simple: callers ask one question at a time
        raise AssertionError("more than one answer line: %r" % (rest[:200],))
    return line


def recv_lines_until_eof(sock, timeout=WAIT):
    """Everything SOCK sends until EOF (or a reset): list of lines, and whether EOF came."""
    sock.settimeout(timeout)
    buf = b""
    eof = False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            d = sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            eof = True
            break
        except socket.timeout:
            break
        if not d:
            eof = True
            break
        buf += d
    lines = buf.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines, eof


def unix_connect(path, timeout=WAIT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def ask(path, line, timeout=WAIT):
    """Send one request line on a fresh connection; the parsed answer."""
    with unix_connect(path, timeout) as s:
        s.sendall(line.encode() + b"\n")
        ans = recv_line(s, timeout)
    if ans is None:
        raise AssertionError("no answer to %r" % line)
    return json.loads(ans)


def connect_as(path, uid, gid, n):
    """N connections to PATH made by a process running as UID/GID (no groups).

    SO_PEERCRED is taken at connect(), so the descriptors keep that identity
    after the child passed them back and exited."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent.close()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fds = []
            for _ in range(n):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                fds.append(s.detach())
            socket.send_fds(child, [b"x"], fds)
            code = 0
        except BaseException as e:  # pragma: no cover - reported by the parent
            try:
                child.sendall(b"E" + repr(e).encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    child.close()
    try:
        msg, fds, _, _ = socket.recv_fds(parent, 4096, n)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if msg.startswith(b"E") or len(fds) != n:
        raise AssertionError("connecting as uid %d failed: %r" % (uid, msg))
    return [socket.socket(fileno=fd) for fd in fds]


def free_id(taken):
    for n in range(61000, 65000):
        if n not in taken:
            return n
    raise RuntimeError("no free id")


def free_uid_gid():
    uids = {p.pw_uid for p in pwd.getpwall()}
    gids = {g.gr_gid for g in grp.getgrall()}
    n = free_id(uids | gids)
    return n, n


# ------------------------------------------------------------- configuration

class SystemAccounts:
    """System groups and users made for one test class (groupadd -r,
    useradd -r: no home, no login shell), and a copy of KAOHECTL that each
    of them may run (self.kaohectl); remove() takes them away again."""

    def __init__(self, groups, users, kaohectl):
        """GROUPS: names; USERS: (name, primary group, [other groups]), …"""
        self.groups, self.users, self.bindir = [], [], None
        try:
            for name in groups:
                subprocess.run(["groupadd", "-r", name], check=True, capture_output=True)
                self.groups.append(name)
            for name, primary, extra in users:
                cmd = ["useradd", "-r", "-M", "-N", "-d", "/nonexistent", "-s",
                       "/usr/sbin/nologin", "-g", primary]
                if extra:
                    cmd += ["-G", ",".join(extra)]
                subprocess.run(cmd + [name], check=True, capture_output=True)
                self.users.append(name)
            self.bindir = tempfile.mkdtemp(prefix="kaohe-it-bin-")
            os.chmod(self.bindir, 0o755)
            self.kaohectl = os.path.join(self.bindir, "kaohectl")
            shutil.copy(kaohectl, self.kaohectl)
            os.chmod(self.kaohectl, 0o755)
        except BaseException:
            self.remove()
            raise

    def remove(self):
        for name in self.users:
            subprocess.run(["userdel", name], capture_output=True)
        for name in self.groups:
            subprocess.run(["groupdel", name], capture_output=True)
        self.users, self.groups = [], []
        if self.bindir:
            shutil.rmtree(self.bindir, ignore_errors=True)
            self.bindir = None


def plan_config(tmp, *, access, channels, reminders, title, document, close, units,
                departments, rows, log_level):
    """The text of a temporary plan for the current year, with kaohe's
    state, socket and exports under TMP, categories basic (max 6, annex
    常规工作) and key (max 4, 重点工作), and the metric sat (%).

    ACCESS and CHANNELS are those sections' values, REMINDERS what stands
    inside its braces; UNITS, DEPARTMENTS and ROWS are the lines of those
    lists. The daemon's and the delivery tests' plans differ only there."""
    return """kaohe: {
  timezone = "Asia/Shanghai";
  state_dir = "%(tmp)s/state";
  control_socket = "%(tmp)s/control.sock";
  export_dir = "%(tmp)s/export";
  log_level = "%(log_level)s";
};
access: %(access)s;
channels: %(channels)s;
calendar: { holidays = [ ]; workdays = [ ]; };
reminders: {
%(reminders)s
};
plan: {
  year = %(year)d;
  title = "%(title)s";
  document = "%(document)s";
  in_force = { from = "01-01"; to = "12-31"; };
  total = 10;
  close = "%(close)s";
  missing_default = "late";
  categories = (
    { id = "basic"; name = "基本工作"; max = 6; annex = [ "常规工作" ]; },
    { id = "key"; name = "重点工作"; max = 4; annex = [ "重点工作" ]; }
  );
  units = (
%(units)s
  );
  departments = (
%(departments)s
  );
  metrics = ( { id = "sat"; name = "满意率"; unit = "%%"; } );
  rows = (
%(rows)s
  );
};
""" % {"tmp": tmp, "log_level": log_level, "access": access, "channels": channels,
       "reminders": reminders, "year": now_local().year, "title": title,
       "document": document, "close": close, "units": units, "departments": departments,
       "rows": rows}


def temp_config(path, tmp, dues, close="3s", units=("ua", "ub"), access=None, log_level="debug",
                track_from=None):
    """Write a small plan for the current year to PATH.

    DUES maps row id "1" and "2" to their due (a date-time string). Rows:
      1  basic, department da, deadline, late 1 missing 3, finding f1 (0.5)
      2  basic, department db, deadline, late 1 missing 2
      3  key,   department da, earns: award praise (2), threshold 2 on sat >= 80
    Units ua (八一路), ub (人民广场) and optionally uc (白云). TRACK_FROM: the
    plan's track_from ("MM-DD"), or None: tracked from the first start."""
    year = now_local().year
    access = access or {}
    def rule(users=(), groups=()):
        return "{ users = [ %s ]; groups = [ %s ]; }" % (
            ", ".join('"%s"' % u for u in users), ", ".join('"%s"' % g for g in groups))
    names = {"ua": "八一路", "ub": "人民广场", "uc": "白云"}
    unit_lines = ",\n".join(
        '    { id = "%s"; name = "%s"; liaisons = ( { name = "联络员%s"; email = "liaison@%s.example.org"; } );'
        ' leader = { name = "主任%s"; email = "leader@%s.example.org"; }; }' % (u, names[u], u, u, u, u)
        for u in units)
    unit_access = "\n".join("    %s = %s;" % (u, rule(*access.get(u, ((), ()))))
                            for u in units)
    text = "# a temporary plan of the daemon's integration tests\n" + plan_config(
        tmp, log_level=log_level, close=close,
        access="""{
  admins = %s;
  departments = {
    da = %s;
    db = %s;
  };
  units = {
%s
  };
}""" % (rule(*access.get("admins", (("root",), ()))), rule(*access.get("da", ((), ()))),
        rule(*access.get("db", ((), ()))), unit_access),
        channels="{ }",
        reminders="""  before = [ "-2s" ];
  due = [ ];
  overdue = { first = "+1s"; every = "2s"; };
  record = [ ];
  shift_to_workdays = false;""",
        title="集成测试考核方案", document="测试〔%d〕1号" % year, units=unit_lines,
        departments="""\
    { id = "da"; name = "区住建局"; office = { name = "住建办公室"; email = "office@da.example.org"; }; },
    { id = "db"; name = "区城管执法局"; office = { name = "城管办公室"; email = "office@db.example.org"; }; }""",
        rows="""\
    { id = "1"; annex_category = "常规工作"; category = "basic"; department = "da"; max = 3;
      content = "报送材料一"; time_node = "T1"; standard = "按时报送"; scoring = "逾期扣1分，未报送扣3分";
      deadline = { due = "%(due1)s"; late = 1; missing = 3; };
      findings = ( { kind = "f1"; name = "问题"; points = 0.5; } ); },
    { id = "2"; annex_category = "常规工作"; category = "basic"; department = "db"; max = 3;
      content = "报送材料二"; time_node = "T2"; standard = "按时报送"; scoring = "逾期扣1分，未报送扣2分";
      deadline = { due = "%(due2)s"; late = 1; missing = 2; }; },
    { id = "3"; annex_category = "重点工作"; category = "key"; department = "da"; max = 4; earn = true;
      content = "重点工作"; time_node = "全年"; standard = "满意率"; scoring = "满意率80%%以上得2分";
      awards = ( { kind = "praise"; name = "表扬"; points = 2; } );
      thresholds = ( { points = 2; any = ( { metric = "sat"; min = 80; } ); } ); }""" % {
            "due1": dues["1"], "due2": dues["2"]})
    if track_from:
        text = text.replace("plan: {\n", 'plan: {\n  track_from = "%s";\n' % track_from, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


# ----------------------------------------------------------------- database

def db_query(state_dir, sql, params=()):
    """The rows of SQL on the database in STATE_DIR, opened read-only (a
    running daemon may go on writing: SQLite's WAL lets both be)."""
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(state_dir, "kaohe.db"), uri=True,
                          timeout=WAIT)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def db_rows(state_dir):
    """Every row of every table of the database in STATE_DIR, by table."""
    tables = [t for (t,) in db_query(state_dir, "SELECT name FROM sqlite_master "
                                                "WHERE type = 'table' ORDER BY name")]
    return {t: db_query(state_dir, 'SELECT * FROM "%s" ORDER BY 1, 2' % t) for t in tables}


# ------------------------------------------------------------------- daemon

class Notifier:
    """A NOTIFY_SOCKET: a datagram socket bound at PATH whose every message
    (one KEY=VALUE line each) a thread of its own collects as it comes, so
    the daemon never finds its queue full (net.unix.max_dgram_qlen is 10 on
    a fresh Debian). With READ=False nobody reads it: a supervisor that
    stopped listening."""

    def __init__(self, path, read=True):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = None
        if read:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _take(self, data):
        with self.cond:
            self.messages.extend(m for m in data.decode("utf-8", "replace").split("\n") if m)
            self.cond.notify_all()

    def _read(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self._take(data)

    def since(self, mark=0):
        with self.cond:
            return self.messages[mark:]

    def wait(self, what, since, timeout, gone):
        """Wait until WHAT is among the messages from SINCE on; False once
        TIMEOUT passed, or once GONE() says no more will come and what
        was sent before holds no WHAT."""
        end = time.monotonic() + timeout
        with self.cond:
            while what not in self.messages[since:]:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                if gone():
                    break
                self.cond.wait(min(left, 0.2))
            else:
                return True
        self.stop()
        return what in self.since(since)

    def stop(self):
        """Stop reading and take what is still queued: every message a
        sender that has ended sent is then in messages."""
        self.stopping.set()
        if self.thread:
            self.thread.join()
            self.thread = None
        if self.sock.fileno() < 0:
            return
        self.sock.setblocking(False)
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            self._take(data)

    def close(self):
        """Stop reading, take what is still queued, close. The messages stay."""
        self.stop()
        if self.sock.fileno() < 0:
            return
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Daemon:
    """One kaohed in the foreground; readiness through a NOTIFY_SOCKET of ours."""

    count = 0
    started = []      # every kaohed of this run, killed at exit whatever happened

    def __init__(self, tmp, config, state_dir=None, sock=None, extra=(), read_notify=True):
        self.tmp = tmp
        self.config = config
        self.state_dir = state_dir
        self.sock = sock
        self.extra = list(extra)
        self.read_notify = read_notify
        self.proc = None
        self.notify = None
        Daemon.count += 1
        self.n = Daemon.count
        self.logpath = os.path.join(tmp, "kaohed-%d.log" % self.n)
        self.log_start = 0
        self.runs = 0

    @property
    def messages(self):
        """The notifications of the current run, in order."""
        return self.notify.since(0) if self.notify else []

    def argv(self):
        a = [KAOHED, "-c", self.config, "-f"]
        if self.state_dir:
            a += ["--state-dir", self.state_dir]
        if self.sock:
            a += ["--socket", self.sock]
        return a + self.extra

    def start(self, wait=True):
        self.runs += 1
        if self.notify:
            self.notify.close()
        self.notify = Notifier(os.path.join(self.tmp, "notify-%d-%d.sock" % (self.n, self.runs)),
                               self.read_notify)
        with open(self.logpath, "ab") as log:
            self.log_start = log.tell()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=utf8_env(NOTIFY_SOCKET=self.notify.path),
                                         cwd=self.tmp)
        Daemon.started.append(self.proc)
        if wait:
            self.wait_notify("READY=1")
        return self

    def wait_notify(self, what, timeout=WAIT, since=0):
        """Wait for the notification WHAT (e.g. READY=1) among messages[since:]."""
        if self.notify.wait(what, since, timeout, lambda: self.proc.poll() is not None):
            return
        if self.proc.poll() is not None:
            raise AssertionError("kaohed exited with %s before sending %s\nlog:\n%s"
                                 % (self.proc.returncode, what, self.log()[-3000:]))
        raise AssertionError("kaohed did not send %s within %.0f s; it sent %r\nlog:\n%s"
                             % (what, timeout, self.messages, self.log()[-3000:]))

    def notify_close(self):
        """Every notification of the current run, once it has ended."""
        self.notify.close()
        return self.messages

    def log(self, whole=False):
        """The stderr log of the current run (or of every run)."""
        try:
            with open(self.logpath, "rb") as f:
                if not whole:
                    f.seek(self.log_start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=WAIT, count=1):
        rx = re.compile(pattern)
        return wait_until(lambda: len(rx.findall(self.log())) >= count and rx.findall(self.log()),
                          timeout, what="log line /%s/ (x%d); log:\n%s" % (pattern, count, self.log()[-2000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
        if self.proc:
            self.proc.wait(WAIT)

    def term(self, timeout=WAIT):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self):
        try:
            self.kill9()
        finally:
            if self.notify:
                self.notify.close()


@atexit.register
def _kill_leftovers():
    for p in Daemon.started:
        if p.poll() is None:
            p.kill()
            p.wait()


ROOT = os.geteuid() == 0


class DaemonTestCase(unittest.TestCase):
    """Each test gets its own temporary directory; every kaohed it started is killed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kaohe-it-")
        os.chmod(self.tmp, 0o755)     # unprivileged peers must reach the socket
        self.daemons = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for d in self.daemons:
            try:
                d.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- daemons

    def daemon(self, config, state_dir=None, sock=None, extra=(), start=True, read_notify=True):
        d = Daemon(self.tmp, config, state_dir, sock, extra, read_notify)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def temp_plan(self, due1_in=600, due2_in=1200, close="3s", name="kaohe.conf", **kw):
        """Write a temporary plan whose rows 1 and 2 are due DUE*_IN seconds from now."""
        t = now_local()
        self.due1 = t + dt.timedelta(seconds=due1_in)
        self.due2 = t + dt.timedelta(seconds=due2_in)
        path = os.path.join(self.tmp, name)
        temp_config(path, self.tmp, {"1": iso(self.due1), "2": iso(self.due2)}, close=close, **kw)
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def shipped(self, start=True):
        """The shipped plan for the current year, state and socket in the temp dir;
        Monday to Friday when no calendar of the year ships yet (as ./run does)."""
        self.sock = os.path.join(self.tmp, "ctl.sock")
        self.state = os.path.join(self.tmp, "state")
        year = now_local().year
        weekdays = [] if os.path.exists(os.path.join(CONFIG_DIR, "calendars", "%d.conf" % year)) \
            else ["--calendar", "weekdays"]
        return self.daemon(SHIPPED_CONF, self.state, self.sock,
                           extra=["--year", str(year), "--export-dir",
                                  os.path.join(self.tmp, "export")] + weekdays, start=start)

    # -- kaohectl

    def ctl(self, *args, sock=None, json_out=True, user=None, env=None, timeout=WAIT):
        cmd = [KAOHECTL, "-s", sock or self.sock] + (["--json"] if json_out else []) + list(args)
        if user is not None:
            cmd = user + [self.shared_ctl] + cmd[1:]
        return subprocess.run(cmd, capture_output=True, timeout=timeout,
                              env=env if env is not None else utf8_env())

    def cj(self, *args, expect=0, **kw):
        """kaohectl --json ARGS: the answer object; checks the exit status EXPECT."""
        r = self.ctl(*args, **kw)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, expect,
                         "kaohectl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), r.returncode, expect, out,
                            r.stderr.decode("utf-8", "replace")))
        lines = out.splitlines()
        self.assertEqual(len(lines), 1, "kaohectl --json prints one line: %r" % out)
        ans = json.loads(lines[0])
        self.assertEqual(ans["ok"], expect == 0, ans)
        return ans

    def ok(self, *args, **kw):
        return self.cj(*args, **kw)["data"]

    def refused(self, code, *args, **kw):
        """The error answer of code CODE: kaohectl exits 2 for a malformed
        request (codes usage and unknown-command), else 1."""
        ans = self.cj(*args, expect=2 if code in ("usage", "unknown-command") else 1, **kw)
        self.assertEqual(ans["error"]["code"], code, ans)
        return ans["error"]

    # -- reading answers

    def entries(self, unit, row, type_=None, live=None):
        data = self.ok("explain", unit, row)
        rows = [r for r in data["rows"] if r["row"] == row]
        self.assertEqual(len(rows), 1, data)
        es = rows[0]["entries"]
        if type_:
            es = [e for e in es if e["type"] == type_]
        if live is not None:
            es = [e for e in es if ("voided" not in e) == live]
        return es

    def assert_no_writes(self, why="nothing was written"):
        audit = self.ok("audit", "100")
        self.assertEqual([], [("%s: %s" % (a["by"], a["command"]))[:120] for a in audit], why)

    def row_score(self, unit, row):
        data = self.ok("explain", unit, row)
        return [r for r in data["rows"] if r["row"] == row][0]["score"]
