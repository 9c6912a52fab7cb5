#!/usr/bin/python3
"""Integration tests of the running daemon: kaohed, its control socket and kaohectl.

Usage:
    /usr/bin/python3 test_daemon.py KAOHED KAOHECTL CONFIG_DIR
or with the environment variables KAOHED, KAOHECTL and KAOHE_CONFIG_DIR
(CONFIG_DIR is the repository's config/, holding the shipped kaohe.conf).

Everything runs on a real daemon in the foreground, on unix sockets in
temporary directories. Readiness is the sd_notify READY=1 datagram on a
socket the test binds (NOTIFY_SOCKET). No test sleeps waiting for a
deadline: the temporary plans have dues written as date-times a few seconds
ahead, and the shipped plan (run with --year of the current year) gets an
occurrence moved a few seconds ahead; the tests then poll with a short
interval and a timeout.

Run as root (as CI does): the access tests create temporary system users
and groups (removed at the end) and run kaohectl as them through setpriv;
the connection-limit tests connect under made-up uids.

Standard library only, and the harness beside (tests/integration/harness.py).
"""


import datetime as dt
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (KAOHECTL, KAOHED, ROOT, SHIPPED_CONF, TAG, TZ, UNIT_NAMES,  # noqa: E402
                     WAIT, DaemonTestCase, ask, db_query, db_rows, connect_as, display_width, free_uid_gid, iso,
                     now_local, parse_instant, plan_config, recv_line, recv_lines_until_eof,
                     SystemAccounts, temp_config,
                     unix_connect, utf8_env, wait_until)


# ====================================================================== tests

class TestDeadlines(DaemonTestCase):
    """Deadlines and closes pass on their own; the writes and reads of kaohectl."""

    def test_01_deadline_close_and_commands(self):
        conf = self.temp_plan(due1_in=8, due2_in=900, close="6s", log_level="info")
        d = self.daemon(conf)
        self.assertTrue(any(m.startswith("STATUS=") for m in d.messages), d.messages)

        # ua submits on time
        sub = self.ok("submit", "ua", "1", "--note", "按时 报送")
        self.assertEqual(sub["unit"], "ua")
        self.assertEqual(sub["state"], "on-time")
        self.assertEqual(parse_instant(sub["deadline"]), self.due1)
        self.assertEqual(parse_instant(sub["close"]), self.due1 + dt.timedelta(seconds=6))

        # The deadline passes: no command is sent while we wait on the log.
        d.wait_log(r"deduction: ub row 1 late -1 points", timeout=2 * WAIT)
        late = self.entries("ub", "1", "late")
        self.assertEqual(len(late), 1, late)
        self.assertEqual(late[0]["points"], -1)          # the row's late points
        self.assertEqual(late[0]["by"], "auto")
        self.assertEqual(parse_instant(late[0]["at"]), self.due1)
        self.assertLessEqual(parse_instant(late[0]["recorded_at"]) - self.due1,
                             dt.timedelta(seconds=5), "applied at the deadline itself")
        self.assertNotIn("voided", late[0])
        self.assertEqual(self.row_score("ub", "1"), 2)
        ua1 = self.entries("ua", "1")
        self.assertEqual([e["type"] for e in ua1], ["submission"], ua1)
        self.assertEqual(ua1[0]["note"], "按时 报送")
        self.assertEqual(self.row_score("ua", "1"), 3)
        st = self.ok("status")
        open_ = [o for o in st["open"] if o["occurrence"] == "1"]
        self.assertEqual(len(open_), 1, st)
        self.assertEqual(open_[0]["overdue"], ["ub"])

        # The close passes: missing replaces late.
        d.wait_log(r"deduction: ub row 1 missing -3 points", timeout=2 * WAIT)
        es = self.entries("ub", "1")
        late = [e for e in es if e["type"] == "late"]
        missing = [e for e in es if e["type"] == "missing"]
        self.assertEqual(len(late), 1, es)
        self.assertIn("voided", late[0], "the late entry is voided at close")
        self.assertEqual(parse_instant(late[0]["voided"]["at"]), self.due1 + dt.timedelta(seconds=6))
        self.assertEqual(len(missing), 1, es)
        self.assertEqual(missing[0]["points"], -3)
        self.assertNotIn("voided", missing[0])
        self.assertEqual(self.row_score("ub", "1"), 0)
        self.assertEqual([e["type"] for e in self.entries("ua", "1")], ["submission"])
        self.assertEqual(self.ok("status", "ub")["occurrences"][0]["state"], "missing")

        with self.subTest("reminders went to the log"):
            log = d.log()
            self.assertIn("reminder (before) to the liaisons of ub: 1", log)
            self.assertNotIn("reminder (before) to the liaisons of ua", log)
            self.assertIn("reminder (overdue) to the liaisons of ub", log)

        # record a finding, a metric, a move
        rec = self.ok("record", "ua", "1", "f1", "2", "--note", "检查发现")
        self.assertEqual((rec["type"], rec["count"], rec["points"]), ("finding", 2, -1))
        self.assertEqual(self.row_score("ua", "1"), 2)
        met = self.ok("metric", "ua", "3", "sat", "85.5")
        self.assertEqual(met["value"], 85.5)
        thr = self.entries("ua", "3", "threshold", live=True)
        self.assertEqual([e["points"] for e in thr], [2], thr)
        self.assertEqual(self.row_score("ua", "3"), 2)

        new_due = self.due2 + dt.timedelta(hours=1)
        mv = self.ok("move", "2", iso(new_due), "--unit", "ub", "--reason", "延期 申请")
        self.assertEqual((mv["occurrence"], mv["unit"]), ("2", "ub"))
        self.assertEqual(parse_instant(mv["deadline"]), new_due)
        occ2 = {u: [o for o in self.ok("status", u)["occurrences"] if o["occurrence"] == "2"][0]
                for u in ("ua", "ub")}
        self.assertEqual(parse_instant(occ2["ub"]["deadline"]), new_due)
        self.assertEqual(parse_instant(occ2["ua"]["deadline"]), self.due2)
        self.assertEqual(occ2["ua"]["state"], "pending")

        # scores: ua 2+3+2 = 7 (basic 5, key 2); ub 0+3+0 = 3
        sc = {u["unit"]: u for u in self.ok("scores")["units"]}
        self.assertEqual(set(sc), {"ua", "ub"})
        self.assertEqual((sc["ua"]["total"], sc["ua"]["basic"], sc["ua"]["key"], sc["ua"]["rank"]),
                         (7, 5, 2, 1))
        self.assertEqual(sc["ua"]["rows"], {"1": 2, "2": 3, "3": 2})
        self.assertEqual((sc["ub"]["total"], sc["ub"]["rank"]), (3, 2))
        self.assertEqual(sc["ub"]["rows"], {"1": 0, "2": 3, "3": 0})
        self.assertEqual(sc["ua"]["name"], "八一路")
        # as of before the close, ub had only the late deduction
        before_close = self.ok("scores", "--as-of", iso(self.due1 + dt.timedelta(seconds=1)))
        self.assertEqual({u["unit"]: u["rows"]["1"] for u in before_close["units"]},
                         {"ua": 3, "ub": 2})

        ex = self.ok("explain", "ub")
        self.assertEqual((ex["unit"], ex["name"], ex["total"]), ("ub", "人民广场", 3))
        self.assertEqual([r["row"] for r in ex["rows"]], ["1", "2", "3"])

        audit = self.ok("audit", "50")
        cmds = [(a["by"], a["command"]) for a in audit]
        for want in ('submit ua 1 --note "按时 报送"', 'record ua 1 f1 2 --note 检查发现',
                     "metric ua 3 sat 85.5", "move 2 %s --unit ub --reason \"延期 申请\"" % iso(new_due)):
            self.assertIn(("root", want), cmds)
        self.assertEqual(len(audit), 4, "reads are not audited: %r" % cmds)

    def test_02_shipped_plan_moved_deadline(self):
        d = self.shipped()
        plan = self.ok("plan")
        self.assertEqual(plan["year"], now_local().year)
        self.assertEqual(plan["units"], 5)
        now = now_local()
        candidates = []
        for r in plan["rows"]:
            if r.get("late", 0) <= 0:
                continue
            for o in r["occurrences"]:
                if o["type"] == "deadline" and parse_instant(o["deadline"]) > now + dt.timedelta(minutes=1):
                    candidates.append((o["occurrence"] != "2c", parse_instant(o["deadline"]),
                                       o["occurrence"], r["row"], r["late"]))
        if not candidates:
            self.skipTest("no deadline with a late deduction is still open this year")
        _, _, occ, row, late_points = min(candidates)

        # bayilu submits (by its Chinese name); then the deadline moves 3 s ahead
        sub = self.ok("submit", "八一路", occ)
        self.assertEqual((sub["unit"], sub["state"]), ("bayilu", "on-time"))
        new_due = now_local() + dt.timedelta(seconds=6)
        mv = self.ok("move", occ, iso(new_due), "--reason", "x")
        self.assertEqual(parse_instant(mv["deadline"]), new_due)
        others = [u for u in UNIT_NAMES if u != "bayilu"]
        for u in others:
            d.wait_log(r"deduction: %s row %s late -%s points \(%s\)"
                       % (u, re.escape(row), re.escape(str(late_points)), re.escape(occ)),
                       timeout=2 * WAIT)
        for u in others:
            late = [e for e in self.entries(u, row, "late") if e.get("occurrence") == occ]
            self.assertEqual(len(late), 1, (u, late))
            self.assertEqual(late[0]["points"], -late_points)
            self.assertEqual(parse_instant(late[0]["at"]), new_due)
        self.assertEqual([e for e in self.entries("bayilu", row)
                          if e.get("occurrence") == occ and e["type"] in ("late", "missing")], [])
        st = self.ok("status")
        open_ = [o for o in st["open"] if o["occurrence"] == occ]
        self.assertEqual(len(open_), 1, st["open"])
        self.assertEqual(sorted(open_[0]["overdue"]), sorted(others))

    def test_03_kill9_catch_up_exactly_once(self):
        conf = self.temp_plan(due1_in=8, due2_in=900, close="1h")
        d = self.daemon(conf)
        self.ok("submit", "ua", "1")
        d.kill9()
        self.assertTrue(os.path.exists(self.sock), "kill -9 leaves the socket file")
        # the deadline passes while nothing runs
        left = (self.due1 - dt.datetime.now(TZ)).total_seconds()
        time.sleep(max(0.0, left) + 0.5)
        self.assertEqual(self.ctl("ping").returncode, 3, "no daemon while it is down")

        for run in range(3):
            d.start()
            log = d.log()
            if run == 0:
                self.assertIn("catching up", log)
                self.assertIn("deduction: ub row 1 late -1 points", log)
            else:
                self.assertNotIn("deduction: ub row 1", log, "run %d applied it again" % run)
            late = self.entries("ub", "1", "late")
            self.assertEqual(len(late), 1, "run %d: %r" % (run, late))
            self.assertNotIn("voided", late[0])
            self.assertEqual(parse_instant(late[0]["at"]), self.due1)
            self.assertEqual([e["type"] for e in self.entries("ua", "1")], ["submission"])
            self.assertEqual(self.row_score("ub", "1"), 2)
            if run == 0:
                d.kill9()
            elif run == 1:
                self.assertEqual(d.term(), 0)


class TestReload(DaemonTestCase):

    def test_04_reload_broken_config(self):
        conf = self.temp_plan()
        good = open(conf, encoding="utf-8").read()
        d = self.daemon(conf)
        pid = d.proc.pid

        # a syntax error on a known line, in a config that would also rename a unit
        lines = good.replace('id = "ub"; name = "人民广场"', 'id = "uz"; name = "人民广场"').split("\n")
        bad_line = next(i for i, l in enumerate(lines) if l.startswith("channels:")) + 1
        lines[bad_line - 1] = "channels: { this is not libconfig"
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        where = "%s:%d:" % (os.path.basename(conf), bad_line)

        mark = len(d.messages)
        os.kill(pid, signal.SIGHUP)
        d.wait_notify("RELOADING=1", since=mark)
        d.wait_notify("READY=1", since=mark)
        log = d.log()
        self.assertRegex(log, r"reload: .*%s" % re.escape(where))
        self.assertIn("the old one keeps running", log)
        self.assertTrue(d.alive())
        self.assertEqual([u["unit"] for u in self.ok("status")["units"]], ["ua", "ub"])

        r = self.ctl("reload")
        self.assertEqual(r.returncode, 1, r)
        ans = json.loads(r.stdout)
        self.assertFalse(ans["ok"])
        self.assertEqual(ans["error"]["code"], "bad-config")
        self.assertIn(where, ans["error"]["message"])
        self.assertTrue(d.alive())
        self.assertEqual(d.proc.pid, pid)
        self.assertEqual([u["unit"] for u in self.ok("status")["units"]], ["ua", "ub"])
        self.assertEqual(self.ok("status", "ub")["unit"], "ub")
        self.ok("submit", "ub", "1")       # writes still work on the old config

        # the plain table output names file:line too
        r = self.ctl("reload", json_out=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(where, r.stderr.decode())

        # a semantic error: every error as file:line
        sem = good.replace('department = "db"; max = 3;', 'department = "nosuch"; max = 3;')
        self.assertNotEqual(sem, good)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(sem)
        sem_line = sem.split("\n").index(next(l for l in sem.split("\n") if '"nosuch"' in l)) + 1
        err = self.refused("bad-config", "reload")
        self.assertTrue(any(e.startswith("%s:%d:" % (conf, sem_line)) or
                            ("%s:%d:" % (os.path.basename(conf), sem_line)) in e
                            for e in err.get("errors", [])), err)
        self.assertEqual([u["unit"] for u in self.ok("status")["units"]], ["ua", "ub"])

        # fixed, with one more unit: the reload takes
        temp_config(conf, self.tmp, {"1": iso(self.due1), "2": iso(self.due2)},
                    units=("ua", "ub", "uc"))
        data = self.ok("reload")
        self.assertEqual(data["units"], 3)
        self.assertEqual([u["unit"] for u in self.ok("status")["units"]], ["ua", "ub", "uc"])
        self.assertIn("reload: configuration loaded", d.log())
        # the submission made under the old config survives the reload
        self.assertEqual([e["type"] for e in self.entries("ub", "1")], ["submission"])
        mark = len(d.messages)
        os.kill(pid, signal.SIGHUP)
        d.wait_notify("READY=1", since=mark)
        self.assertIn("RELOADING=1", d.messages[mark:])
        self.assertEqual(self.ok("ping")["pong"], True)


class TestNotifySocket(DaemonTestCase):

    def test_04b_notify_socket_nobody_reads(self):
        """A supervisor that never reads its NOTIFY_SOCKET: the socket's queue
        holds net.unix.max_dgram_qlen datagrams (10 on a fresh Debian) and
        a reload sends three. kaohed drops what does not fit, says so in its
        log, and goes on answering, reloading and stopping."""
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            qlen = int(f.read())
        reloads = max(12, qlen // 3 + 4)
        conf = self.temp_plan()
        d = self.daemon(conf, start=False, read_notify=False)
        d.start(wait=False)
        wait_until(lambda: self.ctl("ping").returncode == 0, what="kaohed answering")
        t0 = time.monotonic()
        for i in range(reloads):
            if i % 2:
                os.kill(d.proc.pid, signal.SIGHUP)
                wait_until(lambda: len(re.findall("reload: configuration loaded", d.log())) > i,
                           what="reload %d (SIGHUP) done" % (i + 1))
            else:
                self.assertEqual(self.ok("reload")["units"], 2, "reload %d" % (i + 1))
            self.assertIs(self.ok("ping")["pong"], True, "after reload %d" % (i + 1))
        self.ok("submit", "ua", "1")
        self.assertEqual([e["type"] for e in self.entries("ua", "1")], ["submission"])
        warned = re.findall(r"notify: \d+ messages? to NOTIFY_SOCKET dropped .*nobody reads it",
                            d.log())
        self.assertGreaterEqual(len(warned), 1, d.log()[-2000:])
        self.assertLessEqual(len(warned), 1 + (time.monotonic() - t0) // 60,
                             "drops are reported once a minute: %r" % warned)
        self.assertEqual(d.term(), 0, "SIGTERM with the queue still full")
        # the queue holds what came first (the start's READY=1), and not
        # every reload's
        got = d.notify_close()
        self.assertIn("READY=1", got[:4], got)
        self.assertLess(got.count("RELOADING=1"), reloads, got)


class TestSocketFile(DaemonTestCase):

    def test_05_second_instance_and_stale_socket(self):
        conf = self.temp_plan()
        first = self.daemon(conf)
        st = os.stat(self.sock)
        self.assertEqual(st.st_mode & 0o777, 0o666, "the socket is 0666 (authorization is per request)")

        # a second instance on the same socket, with a state directory of
        # its own: refused before it opens (and catches up) its database
        state2 = os.path.join(self.tmp, "state2")
        second = self.daemon(conf, state_dir=state2, start=False)
        second.start(wait=False)
        try:
            rc = second.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.fail("a second kaohed on the same socket keeps running")
        self.assertNotEqual(rc, 0)
        self.assertIn("another kaohed answers on %s" % self.sock, second.log())
        self.assertNotIn("READY=1", second.notify_close())
        self.assertEqual(os.listdir(state2), ["kaohe.lock"], "no database, no catch-up")
        self.assertTrue(first.alive())
        self.assertEqual(self.ok("ping")["pong"], True)
        self.assertTrue(os.path.exists(self.sock), "the refused instance left the socket alone")

        # kill -9 leaves a stale socket file; the next start replaces it
        first.kill9()
        self.assertTrue(os.path.exists(self.sock))
        third = self.daemon(conf)
        self.assertIn("removed the stale socket", third.log())
        self.assertEqual(self.ok("ping")["pong"], True)
        third.term()

        # a file that is not a socket is not removed
        with open(self.sock, "w") as f:
            f.write("precious")
        fourth = self.daemon(conf, start=False)
        fourth.start(wait=False)
        self.assertNotEqual(fourth.proc.wait(WAIT), 0)
        self.assertIn("is not a socket", fourth.log())
        with open(self.sock) as f:
            self.assertEqual(f.read(), "precious")


    def test_05b_second_instance_on_the_state_directory(self):
        """Two kaohed on one state directory, each on a socket of its own: the
        second refuses before it writes anything, naming the first's pid,
        though a deadline passed that it would have caught up."""
        conf = self.temp_plan(due1_in=8, due2_in=900, close="1h")
        first = self.daemon(conf)
        self.ok("submit", "ua", "1")
        with open(os.path.join(self.state, "kaohe.lock")) as f:
            self.assertEqual(f.read(), "%d\n" % first.proc.pid)
        # the first is stopped while row 1's deadline passes: the deduction
        # is the first's to apply once it goes on
        first.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(first.proc.send_signal, signal.SIGCONT)
        wait_until(lambda: now_local() > self.due1, timeout=2 * WAIT,
                   what="row 1's deadline passing")
        before = db_rows(self.state)
        sock2 = os.path.join(self.tmp, "second.sock")
        second = self.daemon(conf, sock=sock2, start=False)
        second.start(wait=False)
        try:
            rc = second.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.fail("a second kaohed on the same state directory keeps running:\n"
                      + second.log()[-2000:])
        self.assertNotEqual(rc, 0)
        self.assertIn("another kaohed (pid %d) runs on the state directory %s"
                      % (first.proc.pid, self.state), second.log())
        self.assertNotIn("READY=1", second.notify_close())
        self.assertFalse(os.path.exists(sock2))
        self.assertEqual(db_rows(self.state), before, "the refused instance wrote")
        with open(os.path.join(self.state, "kaohe.lock")) as f:
            self.assertEqual(f.read(), "%d\n" % first.proc.pid)

        first.proc.send_signal(signal.SIGCONT)
        first.wait_log(r"deduction: ub row 1 late -1 points")
        self.assertEqual(len(self.entries("ub", "1", "late")), 1)
        self.assertEqual(self.entries("ua", "1", "late"), [])
        # the publisher (kaohed publish, run by the daemon) reads the
        # database the daemon holds: it still writes its files
        first.wait_log(r"publish: .* written")
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "export", str(now_local().year),
                                                    "all.ics")))
        # once the first has stopped, the state directory is free again
        self.assertEqual(first.term(), 0)
        third = self.daemon(conf, sock=sock2)
        with open(os.path.join(self.state, "kaohe.lock")) as f:
            self.assertEqual(f.read(), "%d\n" % third.proc.pid)
        self.sock = sock2
        self.assertEqual(len(self.entries("ub", "1", "late")), 1)


    def test_05c_lock_file_must_be_kaoheds_own(self):
        """kaohe.lock receives the daemon's pid: a hard link to another file,
        a FIFO, a file others may write are refused by name, untouched."""
        conf = self.temp_plan()
        os.makedirs(self.state, exist_ok=True)
        lock = os.path.join(self.state, "kaohe.lock")
        precious = os.path.join(self.tmp, "precious")
        with open(precious, "w") as f:
            f.write("precious")
        cases = (("a file with more than one name", lambda: os.link(precious, lock)),
                 ("not a regular file", lambda: os.mkfifo(lock, 0o600)),
                 ("writable by others", lambda: os.close(os.open(lock, os.O_CREAT | os.O_WRONLY,
                                                                 0o600)) or os.chmod(lock, 0o622)))
        for why, plant in cases:
            plant()
            d = self.daemon(conf, start=False)
            d.start(wait=False)
            try:
                rc = d.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.fail("kaohed started on a lock file that is %s:\n%s" % (why, d.log()[-2000:]))
            self.assertNotEqual(rc, 0)
            self.assertIn("%s is %s" % (lock, why), d.log())
            self.assertNotIn("READY=1", d.notify_close())
            os.unlink(lock)
        with open(precious) as f:
            self.assertEqual(f.read(), "precious")
        # a lock file of its own, 0644 as older versions left it, is taken
        with open(lock, "w") as f:
            f.write("1\n")
        os.chmod(lock, 0o644)
        d = self.daemon(conf)
        with open(lock) as f:
            self.assertEqual(f.read(), "%d\n" % d.proc.pid)

    def test_05d_empty_notify_socket_is_no_service_manager(self):
        """NOTIFY_SOCKET set but empty: no service manager, so kaohed
        detaches as it does without one (its parent exits once it is ready)."""
        conf = self.temp_plan()
        log = open(os.path.join(self.tmp, "detached.log"), "wb")
        self.addCleanup(log.close)
        p = subprocess.Popen([KAOHED, "-c", conf], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, env=utf8_env(NOTIFY_SOCKET=""), cwd=self.tmp)
        lock = os.path.join(self.state, "kaohe.lock")

        def stop_child():
            try:
                with open(lock) as f:
                    pid = int(f.read())
                if pid != p.pid:
                    os.kill(pid, signal.SIGTERM)
                    wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout=WAIT,
                               what="the detached kaohed stopping")
            except (OSError, ValueError):
                pass
        self.addCleanup(stop_child)
        try:
            rc = p.wait(WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("with NOTIFY_SOCKET empty kaohed stayed in the foreground, as under "
                      "a service manager")
        self.assertEqual(rc, 0)
        self.assertEqual(self.ok("ping")["pong"], True)
        with open(lock) as f:
            self.assertNotEqual(int(f.read()), p.pid, "the daemon is the detached child")


def free_port():
    """A loopback TCP port nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def big_plan(path, tmp, nunits, dues):
    """A plan of NUNITS units and one deadline row per due of DUES (date-times
    in the past, a year's; their maxima add up to 6), late 0.25, missing
    0.5, and a row without deadline. Occurrences close 30 days after
    the due. A reminder an hour before and one overdue notice an hour after
    each due (the next would come after the close), with copies to the
    leaders and the offices, all by email to a server that is not there,
    one attempt an hour: the outbox keeps what the catch-up wrote."""
    year = dues[0].year
    maxima = [600 // len(dues)] * len(dues)     # hundredths
    maxima[0] += 600 - sum(maxima)
    units = ",\n".join(
        '    { id = "u%05d"; name = "单位%05d"; liaisons = ( { name = "联络员"; '
        'email = "liaison@u%05d.example.org"; } ); leader = { name = "主任"; '
        'email = "leader@u%05d.example.org"; }; }' % (i, i, i, i) for i in range(1, nunits + 1))
    rows = ",\n".join(
        '    { id = "%d"; annex_category = "常规工作"; category = "basic"; department = "%s"; '
        'max = %s; content = "材料%d"; time_node = "T%d"; standard = "按时报送"; '
        'scoring = "逾期扣0.25分"; deadline = { due = "%s"; late = 0.25; missing = 0.5; }; }'
        % (k + 1, "da" if k % 2 else "db", "%.2f" % (maxima[k] / 100), k + 1, k + 1, iso(due))
        for k, due in enumerate(dues))
    rows += """,
    { id = "k"; annex_category = "重点工作"; category = "key"; department = "da"; max = 4;
      earn = true; content = "重点工作"; time_node = "全年"; standard = "表扬"; scoring = "表扬得2分";
      awards = ( { kind = "praise"; name = "表扬"; points = 2; } ); }"""
    text = plan_config(
        tmp, log_level="warning", close="30d", access="{ admins = { users = [ \"root\" ]; }; }",
        channels='{ email = { url = "smtp://127.0.0.1:%d"; from = "kaohe@example.org"; '
                 'rate = [ "1/h" ]; }; }' % free_port(),
        reminders="""  before = [ "-1h" ];
  due = [ ];
  overdue = { first = "+1h"; every = "60d"; };
  record = [ ];
  shift_to_workdays = false;
  not_before_in_force = false;""",
        title="大计划", document="测试〔%d〕2号" % year, units=units,
        departments="""\
    { id = "da"; name = "区住建局"; office = { name = "住建办公室"; email = "office@da.example.org"; }; },
    { id = "db"; name = "区城管执法局"; office = { name = "城管办公室"; email = "office@db.example.org"; }; }""",
        rows=rows)
    # tracked from the start of the year: the first start catches it all up
    text = re.sub(r"\byear = \d+;", 'year = %d;\n  track_from = "01-01";' % year, text, count=1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def ledger(state_dir):
    """What a catch-up writes, as it must come out whatever interrupted it:
    the entries, the outbox rows and their keys, the snapshots and the
    high-water mark, without ids, wall-clock times and delivery states."""
    q = lambda sql: sorted(db_query(state_dir, sql))
    # a delivery's key, with its row's subject for the row's id (joined
    # here: SQLite takes seconds to join them on a read-only connection)
    subject = dict(db_query(state_dir, "SELECT id, subject FROM outbox"))
    return {
        "entries": q("SELECT u.id, e.type, e.row_id, e.occ, e.kind, e.count, e.points, e.value,"
                     " e.at, e.actor, e.note, r.text, e.auto_key, e.voided_at, e.voided_by,"
                     " e.void_reason FROM entries e JOIN units u ON u.ref = e.unit_ref"
                     " LEFT JOIN rules r ON r.ref = e.rule_ref"),
        "outbox": q("SELECT at, kind, unit, dept, subject, channel, address, name, mentions"
                    " FROM outbox"),
        "reminded": sorted(k[:4] + (subject[k[4]],) for k in db_query(
            state_dir, "SELECT unit, occ, slot, recipient, delivery FROM reminded")),
        "snapshots": q("SELECT period, at, data FROM snapshots"),
        "meta": q("SELECT key, value FROM meta"),
        "audit": q("SELECT actor, command FROM audit"),
    }


def hwm(state_dir):
    """The high-water mark of the database in STATE_DIR, as ledger() has it."""
    return sorted(db_query(state_dir, "SELECT key, value FROM meta"))


class TestCrash(DaemonTestCase):
    """kill -9 where it hurts most: inside a long catch-up, and among many
    writes in flight."""

    UNITS = 4000
    ROWS = 16

    @staticmethod
    def entry_count(state):
        """The entries in the database of STATE, 0 before it has its tables."""
        try:
            return db_query(state, "SELECT count(*) FROM entries")[0][0]
        except sqlite3.OperationalError:
            return 0

    def test_11a_kill9_during_first_catch_up(self):
        """A first start with thousands of units' deadlines behind it, killed
        at random moments of its catch-up, then let finish: its ledger and
        outbox are those of a start that ran straight through."""
        now = now_local()
        year = (now - dt.timedelta(days=6)).year
        last = min(now - dt.timedelta(days=2), dt.datetime(year, 12, 31, 12, tzinfo=TZ))
        dues = [last - dt.timedelta(hours=k) for k in range(self.ROWS - 1, -1, -1)]
        conf = os.path.join(self.tmp, "big.conf")
        big_plan(conf, self.tmp, self.UNITS, dues)
        ref_state = os.path.join(self.tmp, "ref")
        ref = self.daemon(conf, ref_state, os.path.join(self.tmp, "ref.sock"),
                          extra=["--export-dir", ""], start=False)
        t = time.monotonic()
        ref.start(wait=False)
        ref.wait_notify("READY=1", timeout=300)
        took = time.monotonic() - t
        # no instant of the plan may fall while the test runs: a reminder
        # or snapshot between two runs would rightly make them differ
        status = [m for m in ref.messages if m.startswith("STATUS=")][-1]
        nxt = re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", status)
        if nxt and parse_instant(nxt.group(0)) < now_local() + dt.timedelta(seconds=30 * took + 300):
            self.skipTest("the plan's next instant (%s) falls within the test" % status)
        self.assertEqual(ref.term(timeout=60), 0)
        want = ledger(ref_state)
        total = len(want["entries"])
        self.assertEqual(total, self.UNITS * self.ROWS, "one late deduction each")
        self.assertEqual(len(want["outbox"]), self.UNITS * self.ROWS * 2 + self.ROWS,
                         "overdue notices to liaisons and leaders, one digest per office instant")

        state = os.path.join(self.tmp, "state")
        d = self.daemon(conf, state, os.path.join(self.tmp, "ctl.sock"),
                        extra=["--export-dir", ""], start=False)
        rnd = random.Random()
        seed = rnd.randrange(1 << 30)
        rnd.seed(seed)
        inside = 0
        for k, (lo, hi) in enumerate(((0.05, 0.3), (0.35, 0.6), (0.65, 0.9))):
            mark = rnd.uniform(lo, hi) * total
            d.start(wait=False)
            wait_until(lambda: d.proc.poll() is not None or self.entry_count(state) >= mark,
                       timeout=300, interval=0.02, what="the catch-up at %d entries" % mark)
            time.sleep(rnd.uniform(0, took / 20))    # a random moment past it
            d.kill9()
            self.assertEqual(d.proc.returncode, -signal.SIGKILL, d.log()[-2000:])
            if "READY=1" not in d.notify_close() and hwm(state) < want["meta"]:
                inside += 1
        self.assertGreaterEqual(inside, 2, "the kills (seed %d) landed inside the catch-up at "
                                "most once: make it longer" % seed)
        d.start(wait=False)
        d.wait_notify("READY=1", timeout=300)
        self.assertEqual(d.term(timeout=60), 0)
        got = ledger(state)
        for table in want:
            self.assertEqual(len(got[table]), len(want[table]), "%s (seed %d)" % (table, seed))
            self.assertEqual(got[table], want[table], "%s (seed %d)" % (table, seed))


    def test_11b_kill9_among_writes_in_flight(self):
        """Four connections stream submissions; kill -9 lands at a random
        moment among them, three times. Every submission answered ok is
        kept, and each is there as a whole (its entry and its audit row)
        or not at all, in each connection's order."""
        conf = self.temp_plan(due1_in=3600, log_level="warning")
        d = self.daemon(conf)
        rnd = random.Random()
        seed = rnd.randrange(1 << 30)
        rnd.seed(seed)
        acked = {}
        conns = 4
        for rnd_no in range(3):
            answered = [[] for _ in range(conns)]
            lines = [["submit %s 1 --note r%d-c%d-%d" % ("ua" if c % 2 else "ub", rnd_no, c, i)
                      for i in range(5000)] for c in range(conns)]
            socks = [unix_connect(self.sock) for _ in range(conns)]

            def write(c):
                try:
                    socks[c].sendall("".join(l + "\n" for l in lines[c]).encode())
                except OSError:
                    pass                  # killed meanwhile

            def read(c):
                buf = b""
                socks[c].settimeout(60)
                while True:
                    try:
                        data = socks[c].recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    buf += data
                    *done, buf = buf.split(b"\n")
                    for line in done:
                        answered[c].append(json.loads(line))

            threads = [threading.Thread(target=f, args=(c,), daemon=True)
                       for c in range(conns) for f in (write, read)]
            for t in threads:
                t.start()
            mark = rnd.randrange(20, 300)
            wait_until(lambda: sum(map(len, answered)) >= mark or not d.alive(), timeout=60,
                       interval=0.01, what="%d answers" % mark)
            time.sleep(rnd.uniform(0, 0.2))    # a random moment past it
            d.kill9()
            for t in threads:
                t.join(WAIT)
                self.assertFalse(t.is_alive(), "a client still waits after kill -9")
            for sk in socks:
                sk.close()
            for c in range(conns):
                for i, ans in enumerate(answered[c]):
                    self.assertIs(ans["ok"], True, (lines[c][i], ans))
                    acked[lines[c][i]] = True
            self.assertGreaterEqual(sum(map(len, answered)), mark)
            self.assertLess(sum(map(len, answered)), conns * 5000, "the kill came too late")

            d.start()
            # every submission whole: its entry and its audit row, or neither
            subs = db_query(self.state, "SELECT u.id, e.occ, e.note FROM entries e JOIN units u"
                                        " ON u.ref = e.unit_ref WHERE e.type = 1")
            entries = ["submit %s %s --note %s" % s for s in subs]
            audit = [a for (a,) in db_query(self.state, "SELECT command FROM audit")]
            self.assertEqual(len(entries), len(set(entries)), "a submission applied twice")
            self.assertEqual(sorted(entries), sorted(audit), "half applied (seed %d)" % seed)
            kept = set(entries)
            lost = [l for l in acked if l not in kept]
            self.assertEqual(lost, [], "answered ok, then lost (seed %d)" % seed)
            # each connection's are kept in the order they were sent: a prefix
            for c in range(conns):
                n = sum(1 for l in lines[c] if l in kept)
                self.assertEqual([l for l in lines[c][:n] if l not in kept], [],
                                 "connection %d: a gap (seed %d)" % (c, seed))
                self.assertGreaterEqual(n, len(answered[c]))
            # the daemon's ledger agrees with the database
            for unit in ("ua", "ub"):
                self.assertEqual(len(self.entries(unit, "1", "submission")),
                                 sum(1 for s in subs if s[0] == unit))
        r = subprocess.run(["sqlite3", os.path.join(self.state, "kaohe.db"),
                            "PRAGMA integrity_check"], capture_output=True, text=True, timeout=WAIT)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)


class TestGarbage(DaemonTestCase):

    def setUp(self):
        super().setUp()
        conf = self.temp_plan()
        self.d = self.daemon(conf)

    def assert_alive(self):
        self.assertTrue(self.d.alive(), "kaohed died:\n" + self.d.log()[-2000:])
        t = time.monotonic()
        self.assertEqual(ask(self.sock, "ping")["data"]["pong"], True)
        self.assertLess(time.monotonic() - t, 5.0, "ping answered promptly")

    def test_06a_random_bytes_nul_invalid_utf8(self):
        rnd = random.Random(20201215)
        with unix_connect(self.sock) as s:
            for i in range(20):
                junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
                junk = junk.replace(b"\n", b"") + b"\x00\xff\xfe\xc3\x28"
                s.sendall(junk + b"\n")
                ans = json.loads(recv_line(s))
                self.assertIs(ans["ok"], False, ans)
                self.assertEqual(ans["error"]["code"], "bad-utf8", ans)
            for junk in (b"ping\x00", b"status \xc3\x28", b"status \xc0\xaf", b"status \xed\xa0\x80",
                         b"status \xf4\x90\x80\x80", b"\xe5\x85", b"status \xff"):
                s.sendall(junk + b"\n")
                ans = json.loads(recv_line(s))
                self.assertEqual((ans["ok"], ans["error"]["code"]), (False, "bad-utf8"), (junk, ans))
            # malformed but valid text
            for line, code in (("", "usage"), ("   ", "usage"), ('status "ua', "usage"),
                               ('status "u\\x"', "usage"), ("status a\"b", "usage"),
                               ("nosuch", "unknown-command"), ("status ua ub", "usage"),
                               ("submit", "usage"), (" ".join(["x"] * 100), "usage"),
                               ("move 1 2026-13-45 --reason r", "bad-date"),
                               ("submit ua 1 --at yesterday", "bad-time"),
                               ("record ua 1 f1 0", "bad-count"),
                               ("metric ua 3 sat 1e9999", "bad-value"),
                               ("void -1 --reason r", "usage"), ("void 999999 --reason r", "not-found")):
                s.sendall(line.encode() + b"\r\n")
                ans = json.loads(recv_line(s))
                self.assertEqual((ans["ok"], ans["error"]["code"]), (False, code), (line, ans))
            # still one connection, still answering
            s.sendall(b"ping\n")
            self.assertIs(json.loads(recv_line(s))["ok"], True)
        self.assert_alive()
        self.assert_no_writes()

    def test_06b_long_non_ascii_names(self):
        """Error messages are cut at 2 KiB: a cut inside a UTF-8 character must
        still give an error answer, never run the command on no unit or crash."""
        probes = (("status {N}", "unknown-unit"), ("explain {N}", "unknown-unit"),
                  ("submit {N} 1", "unknown-unit"), ("record {N} 1 f1", "unknown-unit"),
                  ("submit ua {N}", "unknown-occurrence"),
                  ("move 1 2026-12-01 --unit {N} --reason r", "unknown-unit"),
                  ("nosuch{N}", "unknown-command"))
        for n in (677, 678):
            name = "八" * n
            for pattern, code in probes:
                line = pattern.replace("{N}", name)
                shown = pattern.replace("{N}", "<%d x 八>" % n)
                with self.subTest(request=shown):
                    try:
                        ans = ask(self.sock, line)
                    except (OSError, AssertionError) as e:
                        ans = e
                        # no answer: give a dying daemon a moment to be seen dead
                        try:
                            self.d.proc.wait(1.0)
                        except subprocess.TimeoutExpired:
                            pass
                    if not self.d.alive():
                        rc = self.d.proc.returncode
                        self.d.start()          # go on with the other probes
                        self.fail("kaohed died (exit status %s) on the request %r" % (rc, shown))
                    self.assertIsInstance(ans, dict, "no answer to %r: %r" % (shown, ans))
                    self.assertIs(ans["ok"], False, (shown, ans))
                    self.assertEqual(ans["error"]["code"], code, (shown, ans))
        self.assert_alive()
        self.assert_no_writes()
        self.assertEqual([u["unit"] for u in self.ok("scores")["units"]], ["ua", "ub"])

    def test_06c_huge_lines(self):
        # exactly the limit is a line like any other
        with unix_connect(self.sock) as s:
            s.sendall(b"status " + b"u" * (65536 - 7) + b"\n")
            ans = json.loads(recv_line(s))
            self.assertEqual(ans["error"]["code"], "unknown-unit")
            s.sendall(b"ping\n")
            self.assertIs(json.loads(recv_line(s))["ok"], True)
        # 70000 bytes: line-too-long, then the connection closes
        with unix_connect(self.sock) as s:
            try:
                s.sendall(b"a" * 70000 + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            lines, eof = recv_lines_until_eof(s)
            self.assertTrue(eof, "the connection is closed after a line too long")
            self.assertEqual(len(lines), 1, lines)
            ans = json.loads(lines[0])
            self.assertEqual((ans["ok"], ans["error"]["code"]), (False, "line-too-long"))
        # a long line with no newline at all
        with unix_connect(self.sock) as s:
            try:
                s.sendall(b"status " + b"\xe5\x85\xab" * 30000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            lines, eof = recv_lines_until_eof(s)
            self.assertTrue(eof)
            self.assertEqual([json.loads(l)["error"]["code"] for l in lines], ["line-too-long"])
        self.assertIn("longer than 65536 bytes", self.d.log())
        self.assert_alive()

    def test_06d_half_lines_and_half_close(self):
        # a client that sent half a line and waits does not hold anyone up
        idle = unix_connect(self.sock)
        self.addCleanup(idle.close)
        idle.sendall(b"stat")
        self.assert_alive()
        # a whole line then a half-close: answered, then closed
        with unix_connect(self.sock) as s:
            s.sendall(b"ping\n")
            s.shutdown(socket.SHUT_WR)
            lines, eof = recv_lines_until_eof(s)
            self.assertTrue(eof)
            self.assertEqual(len(lines), 1, lines)
            self.assertIs(json.loads(lines[0])["ok"], True)
        # several lines, the last one half, then a half-close
        with unix_connect(self.sock) as s:
            s.sendall(b"ping\nstatus ua\nstat")
            s.shutdown(socket.SHUT_WR)
            lines, eof = recv_lines_until_eof(s)
            self.assertTrue(eof)
            answers = [json.loads(l) for l in lines]
            self.assertGreaterEqual(len(answers), 2, answers)
            self.assertLessEqual(len(answers), 3, answers)
            self.assertIs(answers[0]["ok"], True)
            self.assertEqual(answers[1]["data"]["unit"], "ua")
            if len(answers) == 3:       # answering the half line is allowed, as an error
                self.assertIs(answers[2]["ok"], False)
        # half a line only, then a half-close
        with unix_connect(self.sock) as s:
            s.sendall(b"pi")
            s.shutdown(socket.SHUT_WR)
            lines, eof = recv_lines_until_eof(s)
            self.assertTrue(eof)
            self.assertLessEqual(len(lines), 1)
        # nothing at all, then a half-close
        with unix_connect(self.sock) as s:
            s.shutdown(socket.SHUT_WR)
            lines, eof = recv_lines_until_eof(s)
            self.assertEqual((lines, eof), ([], True))
        # the waiting client finishes its line and is answered
        idle.sendall(b"us ub\n")
        self.assertEqual(json.loads(recv_line(idle))["data"]["unit"], "ub")
        self.assert_alive()

    @unittest.skipUnless(ROOT, "connects under other uids: needs root")
    def test_06e_connections_per_uid(self):
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for i in range(16):
            c = unix_connect(self.sock)
            conns.append(c)
            c.sendall(b"ping\n")
            self.assertIs(json.loads(recv_line(c))["ok"], True, "connection %d" % (i + 1))
        extra = unix_connect(self.sock)
        lines, eof = recv_lines_until_eof(extra)
        extra.close()
        self.assertTrue(eof, "the 17th connection is closed")
        self.assertEqual(len(lines), 1, lines)
        ans = json.loads(lines[0])
        self.assertEqual((ans["ok"], ans["error"]["code"]), (False, "busy"))
        # kaohectl as the same uid is refused the same way: a daemon answered,
        # so exit 1 and the busy answer, however the refusal races its send
        runs = [self.ctl("ping") for _ in range(20)]
        self.assertEqual([(r.returncode, r.stdout.decode()[:60], r.stderr.decode()[:80]) for r in runs
                          if r.returncode != 1], [], "kaohectl refused as busy must exit 1")
        for r in runs:
            self.assertEqual(json.loads(r.stdout)["error"]["code"], "busy")
        # another uid is still served
        uid, gid = free_uid_gid()
        other = connect_as(self.sock, uid, gid, 1)[0]
        other.sendall(b"ping\n")
        self.assertIs(json.loads(recv_line(other))["ok"], True)
        other.close()
        # the 16 still work
        for c in conns:
            c.sendall(b"ping\n")
            self.assertIs(json.loads(recv_line(c))["ok"], True)
        # one leaves: a new one is let in
        conns.pop().close()
        wait_until(lambda: self.ctl("ping").returncode == 0, what="a free slot after a close")

    @unittest.skipUnless(ROOT, "connects under other uids: needs root")
    def test_06f_total_connections(self):
        uid0, gid0 = free_uid_gid()
        # made-up uids with rights (members of ua, and an officer of da, for
        # members share three quarters): peers with none get a few slots only
        self.d.close()
        conf = self.temp_plan(access={"admins": (("root",), ()),
                                      "ua": (tuple("uid:%d" % (uid0 + k) for k in (0, 1, 2, 4)),
                                             ()),
                                      "da": (("uid:%d" % (uid0 + 3),), ())})
        self.d = self.daemon(conf)
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for k in range(4):
            got = connect_as(self.sock, uid0 + k, gid0 + k, 16)
            conns.extend(got)
            for c in got:
                c.sendall(b"ping\n")
                self.assertIs(json.loads(recv_line(c))["ok"], True)
        self.assertEqual(len(conns), 64)
        extra = connect_as(self.sock, uid0 + 4, gid0 + 4, 1)[0]
        lines, eof = recv_lines_until_eof(extra)
        extra.close()
        self.assertTrue(eof)
        ans = json.loads(lines[0])
        self.assertEqual(ans["error"]["code"], "busy", ans)
        self.assertIn("too many connections", ans["error"]["message"])
        for c in conns[:8]:
            c.close()
        del conns[:8]
        wait_until(lambda: self.ctl("ping").returncode == 0, what="a free slot after closes")
        self.assertIn("uid:%d" % uid0, self.d.log(), "an unknown uid is named uid:N")

    def test_06g_client_that_never_reads(self):
        """~5 MB of `plan` requests, never reading: the daemon stops reading
        from it while its answers wait (so it costs about one answer's memory),
        others are answered promptly all along, and it is closed once idle
        (control_idle_timeout, 10 s here)."""
        self.d.close()
        confdir = os.path.join(self.tmp, "conf")
        os.makedirs(confdir)
        shutil.copy(os.path.join(os.path.dirname(SHIPPED_CONF), "plan-2020.conf"), confdir)
        os.symlink(os.path.join(os.path.dirname(SHIPPED_CONF), "calendars"),
                   os.path.join(confdir, "calendars"))
        with open(SHIPPED_CONF, encoding="utf-8") as f:
            text = f.read().replace("kaohe: {", "kaohe: {\n  control_idle_timeout = 10;", 1)
        conf = os.path.join(confdir, "kaohe.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        self.sock = os.path.join(self.tmp, "ctl.sock")
        self.state = os.path.join(self.tmp, "state")
        d = self.daemon(conf, self.state, self.sock, extra=["--year", str(now_local().year)])
        flood = unix_connect(d.sock)
        self.addCleanup(flood.close)
        payload = b"plan\n" * (5 * 1024 * 1024 // 5)
        result = {}

        def send():
            t = time.monotonic()
            try:
                flood.settimeout(60)
                flood.sendall(payload)
                result["outcome"] = "all sent"
            except (BrokenPipeError, ConnectionResetError):
                result["outcome"] = "dropped"
            except OSError as e:
                result["outcome"] = repr(e)
            result["seconds"] = time.monotonic() - t

        th = threading.Thread(target=send, daemon=True)
        th.start()
        worst = 0.0
        n = 0
        end = time.monotonic() + 60
        while (th.is_alive() or n < 5) and time.monotonic() < end:
            t = time.monotonic()
            try:
                ans = ask(d.sock, "ping", timeout=30)
                self.assertIs(ans["ok"], True)
            finally:
                worst = max(worst, time.monotonic() - t)
            n += 1
            time.sleep(0.05)
        th.join(30)
        self.assertEqual(result.get("outcome"), "dropped", result)
        self.assertLess(result["seconds"], 40, result)
        self.assertIn("idle for 10 s, closing", d.log())
        self.assertTrue(d.alive())
        with open("/proc/%d/status" % d.proc.pid) as f:
            peak_kb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        self.assertLess(peak_kb, 64 * 1024, "kaohed's peak RSS while a client floods without "
                        "reading: %d kB" % peak_kb)
        self.assertLess(worst, 5.0, "while a client floods without reading, another waited "
                        "%.2f s for a ping (%d pings)" % (worst, n))


class TestStop(DaemonTestCase):

    def test_07_sigterm_clean_stop(self):
        conf = self.temp_plan()
        d = self.daemon(conf)
        self.ok("submit", "ua", "1", "--note", "保存")
        self.ok("record", "ub", "1", "f1")
        rc = d.term()
        self.assertEqual(rc, 0, d.log())
        self.assertIn("STOPPING=1", d.notify_close())
        self.assertFalse(os.path.exists(self.sock), "the socket file is removed")
        self.assertIn("stopped", d.log())
        db = os.path.join(self.state, "kaohe.db")
        with self.subTest("the database was closed: its WAL checkpointed and removed"):
            self.assertFalse(os.path.exists(db + "-wal") and os.path.getsize(db + "-wal") > 0)
        r = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, text=True,
                           timeout=WAIT)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)
        d.start()
        sub = self.entries("ua", "1", "submission")
        self.assertEqual([e["note"] for e in sub], ["保存"])
        self.assertEqual([e["kind"] for e in self.entries("ub", "1", "finding")], ["f1"])
        # SIGINT stops cleanly too
        d.proc.send_signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(WAIT), 0)


class TestKaohectl(DaemonTestCase):

    def test_08a_exit_codes_and_json(self):
        conf = self.temp_plan()
        self.daemon(conf)
        self.assertEqual(self.ctl("ping").returncode, 0)
        r = self.ctl("ping", json_out=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn("pong: true", r.stdout.decode())
        # 1: refused or failed
        r = self.ctl("submit", "nosuch", "1", json_out=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown-unit", r.stderr.decode())
        self.refused("unknown-unit", "submit", "nosuch", "1")
        self.refused("usage", "status", "ua", "ub")
        self.refused("unknown-command", "frobnicate")
        # 2: usage
        for argv in ([KAOHECTL], [KAOHECTL, "-s", self.sock], [KAOHECTL, "--json"],
                     [KAOHECTL, "--bogus", "ping"], [KAOHECTL, "-s"]):
            r = subprocess.run(argv, capture_output=True, env=utf8_env(), timeout=WAIT)
            self.assertEqual(r.returncode, 2, (argv[1:], r))
        r = subprocess.run([KAOHECTL, "--help"], capture_output=True, env=utf8_env(), timeout=WAIT)
        self.assertEqual(r.returncode, 0)
        self.assertIn("example", r.stdout.decode())
        # 3: no daemon
        r = self.ctl("ping", sock=os.path.join(self.tmp, "nothing-here.sock"))
        self.assertEqual(r.returncode, 3)
        dead = os.path.join(self.tmp, "dead.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(dead)
        s.close()
        self.assertEqual(self.ctl("ping", sock=dead).returncode, 3, "a socket nobody listens on")
        # --json prints the daemon's answer verbatim
        for line in ("plan", "audit", "snapshots", "nosuch"):
            with unix_connect(self.sock) as s:
                s.sendall(line.encode() + b"\n")
                raw = recv_line(s)
            r = self.ctl(*line.split())
            self.assertEqual(r.stdout, raw + b"\n", line)
        # KAOHE_SOCKET names the socket when -s is not given
        r = subprocess.run([KAOHECTL, "--json", "ping"], capture_output=True, timeout=WAIT,
                           env=utf8_env(KAOHE_SOCKET=self.sock))
        self.assertEqual(r.returncode, 0, r)
        # arguments with spaces and quotes arrive whole
        note = 'a "quoted" note \\ with spaces'
        sub = self.ok("submit", "ua", "1", "--note", note)
        self.assertEqual(self.entries("ua", "1", "submission")[0]["note"], note, sub)

    def check_aligned(self, text, header):
        """The table whose header line begins with the column HEADER: every
        cell of every row begins at the display column of its header's."""
        lines = text.split("\n")
        i = next(i for i, l in enumerate(lines) if re.match(r"\s*%s  " % re.escape(header), l))
        indent = len(lines[i]) - len(lines[i].lstrip(" "))

        def starts(line):
            cols, w = [], 0
            for k, ch in enumerate(line):
                if ch != " " and (k == indent or (k >= indent + 2 and line[k - 2:k] == "  ")):
                    cols.append(w)
                w += display_width(ch)
            return cols

        head = starts(lines[i])
        rows = []
        for l in lines[i + 1:]:
            if not l.strip() or len(l) - len(l.lstrip(" ")) != indent or ": " in l:
                break
            rows.append(l)
        self.assertGreater(len(rows), 0, text)
        for l in rows:
            cols = starts(l)
            self.assertEqual(cols, head[:len(cols)], "misaligned by display width:\n%s\n%s"
                             % (lines[i], l))
        return rows

    def test_08a2_answer_longer_than_the_daemons_longest_refused(self):
        """kaohectl reads at most the 16 MiB and a newline a daemon sends: a
        listener answering more is refused, not read into memory whole."""
        path = os.path.join(self.tmp, "liar.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        self.addCleanup(srv.close)
        sizes = iter((16 << 20, (16 << 20) + 4096))

        def serve():
            for size in sizes:
                c, _ = srv.accept()
                with c:
                    recv_line(c)
                    body = b'{"ok":true,"data":{"pad":"' + b"x" * (size - 29) + b'"}}'
                    try:
                        c.sendall(body + b"\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        ok = self.ctl("ping", sock=path)
        self.assertEqual(ok.returncode, 0, ok.stderr[-300:])
        self.assertEqual(len(ok.stdout), (16 << 20) + 1)
        big = self.ctl("ping", sock=path)
        self.assertEqual(big.returncode, 1)
        self.assertIn(b"the answer is longer than the 16777216 bytes a daemon sends", big.stderr)
        t.join(WAIT)

    def test_08b_tables_aligned_by_display_width(self):
        self.shipped()
        r = self.ctl("status", json_out=False)
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode("utf-8")
        rows = self.check_aligned(out, "unit")
        self.assertEqual(len(rows), 5)
        for name in UNIT_NAMES.values():
            self.assertIn(name, out)
        r = self.ctl("status", "八一路", json_out=False)
        self.check_aligned(r.stdout.decode("utf-8"), "occurrence")

    def test_08c_tables_aligned_without_a_utf8_locale(self):
        """kaohectl run with no locale in its environment (cron, services, CI)
        still prints UTF-8 from the daemon: the table must still line up."""
        self.shipped()
        env = {k: v for k, v in utf8_env().items() if not k.startswith("LC_")}
        env.pop("LANG", None)
        r = self.ctl("status", json_out=False, env=env)
        self.assertEqual(r.returncode, 0, r)
        self.check_aligned(r.stdout.decode("utf-8"), "unit")

    def test_09_unit_by_chinese_name(self):
        self.shipped()
        st = self.ok("status", "八一路")
        self.assertEqual((st["unit"], st["name"]), ("bayilu", "八一路"))
        self.assertTrue(len(st["occurrences"]) > 0)
        for uid, name in UNIT_NAMES.items():
            self.assertEqual(self.ok("explain", name, "1")["unit"], uid)
        r = self.ctl("status", "八一路", json_out=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn("name: 八一路", r.stdout.decode("utf-8"))
        err = self.refused("unknown-unit", "status", "八一")
        self.assertIn("八一路", err["message"], "the error lists the known units")


@unittest.skipUnless(ROOT, "creates users and groups: needs root")
class TestAccess(DaemonTestCase):
    """kaohectl as unprivileged users: what each may do is the daemon's decision."""

    accounts = None

    @classmethod
    def setUpClass(cls):
        cls.g = {k: "%s-%s" % (TAG, k) for k in ("da", "db", "ua", "ub", "none")}
        cls.u = {k: "%s-%s" % (TAG, k) for k in ("off", "mem", "nob")}
        g = cls.g
        cls.accounts = SystemAccounts(g.values(), (
            (cls.u["off"], g["da"], []), (cls.u["mem"], g["none"], [g["ua"]]),
            (cls.u["nob"], g["none"], [])), KAOHECTL)
        cls.shared_ctl_path = cls.accounts.kaohectl
        cls.fake_uid, cls.fake_gid = free_uid_gid()

    @classmethod
    def tearDownClass(cls):
        if cls.accounts:
            cls.accounts.remove()

    def setUp(self):
        super().setUp()
        self.shared_ctl = self.shared_ctl_path
        conf = self.temp_plan(access={
            "admins": (("root",), ()),
            "da": ((), (self.g["da"],)), "db": ((), (self.g["db"],)),
            "ua": ((), (self.g["ua"],)),
            "ub": (("uid:%d" % self.fake_uid,), (self.g["ub"],)),
        })
        self.d = self.daemon(conf)

    def as_user(self, key):
        name = self.u[key]
        return ["setpriv", "--reuid=" + name, "--regid=" + str(pwd.getpwnam(name).pw_gid),
                "--init-groups"]

    def as_fake(self):
        return ["setpriv", "--reuid=%d" % self.fake_uid, "--regid=%d" % self.fake_gid,
                "--clear-groups"]

    def test_10a_department_officer(self):
        off = self.as_user("off")
        self.ok("submit", "ua", "1", user=off)
        rec = self.ok("record", "ub", "1", "f1", "2", user=off)
        self.ok("metric", "ua", "3", "sat", "90", user=off)
        self.ok("record", "ub", "3", "praise", user=off)
        self.ok("move", "1", iso(self.due1 + dt.timedelta(days=1)), "--reason", "officer", user=off)
        self.ok("void", str(rec["id"]), "--reason", "录入错误", user=off)
        # rows of the other department
        for args in (("submit", "ua", "2"), ("submit", "ub", "2"),
                     ("move", "2", iso(self.due2 + dt.timedelta(days=1)), "--reason", "x")):
            err = self.refused("permission-denied", *args, user=off)
            self.assertIn(self.u["off"], err["message"])
        # officers read everything, but are no admins
        for args in (("status",), ("status", "ub"), ("explain", "ub"), ("scores",), ("plan",),
                     ("audit",), ("snapshots",), ("upcoming",), ("ping",)):
            self.ok(*args, user=off)
        self.refused("permission-denied", "reload", user=off)
        # every write is audited with the caller's name
        audit = self.ok("audit", "50")
        by_off = [a["command"] for a in audit if a["by"] == self.u["off"]]
        self.assertEqual(len(by_off), 6, audit)
        self.assertIn("submit ua 1", by_off)
        self.assertTrue(any(c.startswith("void %d" % rec["id"]) for c in by_off), by_off)
        self.assertEqual({a["by"] for a in audit}, {self.u["off"]})
        self.assertEqual(self.entries("ua", "1", "submission")[0]["by"], self.u["off"])
        self.assertIn("%s: submit ua 1" % self.u["off"], self.d.log())

    def test_10b_unit_member(self):
        mem = self.as_user("mem")
        self.assertEqual(self.ok("status", "ua", user=mem)["unit"], "ua")
        self.assertEqual(self.ok("explain", "ua", user=mem)["unit"], "ua")
        self.assertEqual(self.ok("explain", "八一路", "1", user=mem)["unit"], "ua")
        up = self.ok("upcoming", "1", user=mem)
        for o in up["occurrences"]:
            self.assertTrue(set(o.get("not_submitted", [])) <= {"ua"}, o)
        # a bare status is their own unit's
        self.assertEqual(self.ok("status", user=mem)["unit"], "ua")
        for args in (("status", "ub"), ("explain", "ub"), ("explain", "人民广场", "1"),
                     ("scores",), ("plan",), ("audit",), ("snapshots",)):
            self.refused("permission-denied", *args, user=mem)
        for args in (("submit", "ua", "1"), ("record", "ua", "1", "f1"),
                     ("metric", "ua", "3", "sat", "90"),
                     ("move", "1", iso(self.due1), "--reason", "x"),
                     ("void", "1", "--reason", "x"), ("reload",)):
            self.refused("permission-denied", *args, user=mem)
        self.assert_no_writes("refused writes change nothing")

    def test_10c_nobody(self):
        nob = self.as_user("nob")
        # ping answers anyone (the code authorizes it for all); it reveals nothing but the time
        self.assertEqual(self.ok("ping", user=nob)["pong"], True)
        for args in (("status",), ("status", "ua"), ("explain", "ua"), ("scores",), ("plan",),
                     ("audit",), ("snapshots",), ("upcoming",),
                     ("submit", "ua", "1"), ("record", "ua", "1", "f1"), ("reload",)):
            with self.subTest(args=args):
                self.refused("permission-denied", *args, user=nob)
        r = self.ctl("status", user=nob, json_out=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("permission-denied", r.stderr.decode())
        self.assert_no_writes("refused writes change nothing")
        # a request is parsed before it is authorized: whatever anyone sends,
        # the daemon answers (here an unknown command whose error message is
        # cut inside a UTF-8 character) and stays up
        r = self.ctl("nosuch" + "八" * 678, user=nob)
        self.assertTrue(self.d.alive(), "any local user can crash kaohed (exit %s)"
                        % self.d.proc.poll())
        self.assertEqual(r.returncode, 2, r.stderr.decode()[:200])
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "unknown-command")

    def test_10d_unresolvable_uid(self):
        fake = self.as_fake()
        # named "uid:N" in access, it is a member of ub
        self.assertEqual(self.ok("status", "ub", user=fake)["unit"], "ub")
        err = self.refused("permission-denied", "status", "ua", user=fake)
        self.assertIn("uid:%d" % self.fake_uid, err["message"])
        self.refused("permission-denied", "submit", "ub", "1", user=fake)



def run_as(uid, gid, fn):
    """Run FN() in a child process as UID/GID (no groups); its return value
    (something json can carry), or AssertionError with what went wrong."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            out = json.dumps({"ok": fn()}).encode()
            code = 0
        except BaseException as e:  # pragma: no cover - reported by the parent
            out = json.dumps({"error": repr(e)}).encode()
        finally:
            try:
                os.write(w, out)
            finally:
                os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    ans = json.loads(data or b'{"error": "no answer"}')
    if "error" in ans:
        raise AssertionError("as uid %d: %s" % (uid, ans["error"]))
    return ans["ok"]


class TestHostileLocalUsers(DaemonTestCase):
    """What a local user (or a mistyped command) must not achieve: writes
    through planted links, a backup over the live database, admins locked
    out of the socket, a flooded log, a screen cleared by a note, a
    misleading error on a full disk."""

    def audit_of(self, command_prefix):
        return [a for a in self.ok("audit", "1000") if a["command"].startswith(command_prefix)]

    def db_count(self, db, table="entries"):
        r = subprocess.run(["sqlite3", db, "SELECT COUNT(*) FROM %s" % table],
                           capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        return int(r.stdout)

    @unittest.skipUnless(ROOT, "plants a link as another uid: needs root")
    def test_20a_backup_refuses_links_uris_and_the_live_database(self):
        conf = self.temp_plan()
        self.daemon(conf)
        self.ok("submit", "ua", "1", "--note", "before the backups")
        live = os.path.join(self.state, "kaohe.db")
        out = os.path.join(self.tmp, "out")
        os.mkdir(out)

        # a dangling link planted where the backup goes: never followed
        link, victim = os.path.join(out, "link.db"), os.path.join(out, "victim.db")
        os.symlink(victim, link)
        err = self.refused("bad-path", "backup", link)
        self.assertIn("symbolic link", err["message"])
        self.assertFalse(os.path.lexists(victim), "the backup wrote through a planted link")

        # SQLite URIs name files the path check never saw: refused, nothing replaced
        other = os.path.join(out, "other.db")
        subprocess.run(["sqlite3", other,
                        "CREATE TABLE precious(x); INSERT INTO precious VALUES(1)"],
                       check=True, timeout=WAIT)
        for uri in ("file:%s" % live, "file:%s?mode=rwc" % other, "file:%s" % other):
            err = self.refused("bad-path", "backup", uri)
            self.assertIn("is a URI", err["message"])
        self.assertEqual(self.db_count(other, "precious"), 1)
        self.assertEqual([e["note"] for e in self.entries("ua", "1", "submission")],
                         ["before the backups"], "the live database survived")
        self.assertEqual(self.db_count(live), 1)

        # the live database and its companions, by identity and by name
        for name in ("kaohe.db", "kaohe.db-wal", "kaohe.db-shm", "kaohe.db-journal"):
            err = self.refused("bad-path", "backup", os.path.join(self.state, name))
            self.assertIn("live database", err["message"])
        self.assertFalse(os.path.exists(live + "-journal"))
        alias = os.path.join(self.tmp, "state-alias")
        os.symlink(self.state, alias)
        err = self.refused("bad-path", "backup", os.path.join(alias, "kaohe.db-journal"))
        self.assertIn("live database", err["message"])

        # a relative path on the socket is the daemon's: refused; kaohectl
        # makes it the caller's
        ans = ask(self.sock, "backup relative.db")
        self.assertEqual(ans["error"]["code"], "bad-path", ans)
        self.assertIn("not an absolute path", ans["error"]["message"])
        caller = os.path.join(self.tmp, "caller")
        os.mkdir(caller)
        r = subprocess.run([KAOHECTL, "-s", self.sock, "--json", "backup", "relative.db"],
                           capture_output=True, timeout=WAIT, env=utf8_env(), cwd=caller)
        self.assertEqual(r.returncode, 0, r)
        copy = os.path.join(caller, "relative.db")
        self.assertEqual(json.loads(r.stdout)["data"]["path"], copy)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "relative.db")))
        st = os.lstat(copy)
        self.assertEqual(st.st_mode & 0o7777, 0o600, "a copy of the ledger is its owner's only")
        self.assertEqual(self.db_count(copy), 1)
        r = subprocess.run(["sqlite3", copy, "PRAGMA integrity_check"], capture_output=True,
                           text=True, timeout=WAIT)
        self.assertEqual(r.stdout.strip(), "ok")
        self.assertEqual([n for n in os.listdir(caller) if n != "relative.db"], [],
                         "nothing of the backup's own is left beside it")
        self.refused("bad-path", "backup", copy)

        # a shared directory others may write to without the sticky bit: refused
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        err = self.refused("bad-path", "backup", os.path.join(shared, "copy.db"))
        self.assertIn("writable by others and not sticky", err["message"])
        # sticky (as /tmp): a stranger's link is refused, a new name is written
        os.chmod(shared, 0o1777)
        uid, gid = free_uid_gid()
        planted = os.path.join(shared, "planted.db")
        target = os.path.join(shared, "target.db")
        run_as(uid, gid, lambda: os.symlink(target, planted))
        self.refused("bad-path", "backup", planted)
        self.assertFalse(os.path.lexists(target))
        self.ok("backup", os.path.join(shared, "copy.db"))
        self.assertEqual(self.db_count(os.path.join(shared, "copy.db")), 1)

        # every one of them, written or refused, is in the audit trail
        backups = self.audit_of("backup ")
        self.assertEqual(len(backups), 15, [b["command"] for b in backups])
        self.assertEqual({b["by"] for b in backups}, {"root"})
        self.assertIn("symbolic link", backups[0]["result"])
        self.assertTrue(any(b["command"] == "backup " + copy and '"path"' in b["result"]
                            for b in backups), backups)

    def test_20b_reloads_are_audited(self):
        conf = self.temp_plan()
        d = self.daemon(conf)
        with open(conf, encoding="utf-8") as f:
            good = f.read()
        self.ok("reload")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(good.replace('department = "db"; max = 3;', 'department = "nosuch"; max = 3;'))
        self.refused("bad-config", "reload")
        mark = len(d.messages)
        os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_notify("READY=1", since=mark)
        rel = wait_until(lambda: len(self.audit_of("reload")) == 3 and self.audit_of("reload"),
                         what="three reloads in the audit trail")
        self.assertEqual([(a["by"], a["command"]) for a in rel],
                         [("root", "reload"), ("root", "reload"), ("SIGHUP", "reload")])
        self.assertIn('"units":2', rel[0]["result"])
        self.assertIn("bad-config", rel[1]["result"])
        self.assertIn("nosuch", rel[1]["result"])
        self.assertIn("bad-config", rel[2]["result"])

    @unittest.skipUnless(ROOT, "connects under other uids: needs root")
    def test_20c_local_users_cannot_lock_admins_out(self):
        conf = self.temp_plan()
        d = self.daemon(conf)
        uid0, gid0 = free_uid_gid()
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        # five made-up uids (no rights) try 16 connections each
        for k in range(5):
            conns.extend(connect_as(self.sock, uid0 + k, gid0 + k, 16))
        served = busy = 0
        for c in conns:
            try:
                c.sendall(b"ping\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            ans = recv_line(c)
            code = json.loads(ans)["error"]["code"] if ans and b'"ok":false' in ans else None
            served += ans is not None and code is None
            busy += code == "busy"
        self.assertLessEqual(served, 4, "peers without rights hold a few connections only")
        self.assertEqual(served + busy, 80)
        r = self.ctl("ping")
        self.assertEqual(r.returncode, 0, "an admin is locked out: %r" % (r.stderr,))
        # those holding the places for users without rights keep another out
        # only a moment (CONTROL_NO_RIGHTS_HOLD, 2 s): a sixth one's ping goes through

        def ping_as_sixth():
            c = connect_as(self.sock, uid0 + 5, gid0 + 5, 1)[0]
            try:
                c.sendall(b"ping\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            ans = recv_line(c)
            c.close()
            return ans is not None and json.loads(ans)["ok"]
        wait_until(ping_as_sixth, timeout=WAIT, interval=0.2,
                   what="a ping of a user without rights past four holding their places")

        # unit members (who may only read) fill their share, three quarters
        # of the 64: an officer still gets in, and admins beyond the 64
        d.close()
        conf = self.temp_plan(access={"admins": (("root",), ()),
                                      "ua": (tuple("uid:%d" % (uid0 + k) for k in range(4)), ()),
                                      "da": (("uid:%d" % (uid0 + 4),), ())})
        self.daemon(conf)
        for c in conns:
            c.close()
        conns.clear()

        def pings(k, n):
            got = connect_as(self.sock, uid0 + k, gid0 + k, n)
            conns.extend(got)
            answers = []
            for c in got:
                try:
                    c.sendall(b"ping\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                answers.append(json.loads(recv_line(c)))
            return answers

        for k in range(3):
            self.assertEqual([a["ok"] for a in pings(k, 16)], [True] * 16)
        refused = pings(3, 16)
        self.assertEqual({(a["ok"], a["error"]["code"]) for a in refused}, {(False, "busy")})
        self.assertIn("may only read", refused[0]["error"]["message"])
        self.assertEqual([a["ok"] for a in pings(4, 16)], [True] * 16,
                         "four unit members lock an officer out")
        extra = pings(5, 1)[0]
        self.assertEqual(extra["error"]["code"], "busy")
        admins = [unix_connect(self.sock) for _ in range(8)]
        conns.extend(admins)
        for c in admins:
            c.sendall(b"ping\n")
            self.assertIs(json.loads(recv_line(c))["ok"], True, "an admin's reserved slot")
        self.assertEqual(self.ctl("ping").returncode, 1, "the reserve is 8 connections")

    @unittest.skipUnless(ROOT, "connects under other uids: needs root")
    def test_20d_refusals_logged_a_few_at_a_time(self):
        conf = self.temp_plan()
        d = self.daemon(conf)
        uid, gid = free_uid_gid()
        # a made-up uid holds what it may, then churns against its limit
        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        for _ in range(64):
            c = connect_as(self.sock, uid, gid, 1)[0]
            held.append(c)
            try:
                c.sendall(b"ping\n")
            except (BrokenPipeError, ConnectionResetError):
                pass        # refused: the answer waits all the same
            if not json.loads(recv_line(c))["ok"]:
                break
        sock = self.sock

        def churn():
            busy = 0
            for _ in range(2000):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(WAIT)
                s.connect(sock)
                try:
                    s.sendall(b"ping\n")
                except OSError:
                    pass
                data = b""
                while not data.endswith(b"\n"):
                    try:
                        chunk = s.recv(4096)
                    except ConnectionResetError:
                        chunk = b""
                    if not chunk:
                        break
                    data += chunk
                s.close()
                busy += b'"busy"' in data
            return busy

        # 2000 refusals, and the one that ended the holding
        refused = run_as(uid, gid, churn) + 1
        self.assertEqual(refused, 2001)
        # the last window's count comes at its end (CONTROL_LOG_WINDOW, 10 s)
        rx = re.compile(r"control: (\d+) more connections? refused in the last 10 s")
        def counted():
            log = d.log()
            lines = len(re.findall(r"control: refusing uid:%d " % uid, log))
            return lines + sum(int(n) for n in rx.findall(log)) == refused and log
        log = wait_until(counted, timeout=30, what="every refusal logged or counted")
        lines = len(re.findall(r"control: refusing uid:%d " % uid, log))
        windows = len(rx.findall(log))
        self.assertGreaterEqual(windows, 1)
        # the last window may end with no count (5 refusals or fewer in it)
        self.assertLessEqual(lines, 5 * (windows + 1),
                             "at most 5 refusals logged one by one per window")
        self.assertTrue(d.alive())
        self.assertEqual(self.ok("ping")["pong"], True)

    @unittest.skipUnless(ROOT, "mounts a small tmpfs: needs root")
    def test_20e_full_disk_says_so(self):
        small = os.path.join(self.tmp, "small")
        os.mkdir(small)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", small],
                           capture_output=True, text=True, timeout=WAIT)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.addCleanup(lambda: subprocess.run(["umount", "-l", small], timeout=WAIT))
        conf = self.temp_plan(due1_in=12, due2_in=900, close="1h")
        d = self.daemon(conf, state_dir=os.path.join(small, "state"))
        self.ok("submit", "ub", "2")
        # fill what is left of the file system
        filler = os.path.join(small, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        # notes of the longest kind (2,000 characters, 6 kB), on one connection
        err = None
        c = unix_connect(self.sock)
        self.addCleanup(c.close)
        for _ in range(250):
            c.sendall(("submit ua 2 --note %s\n" % ("字" * 2000)).encode("utf-8"))
            ans = json.loads(recv_line(c))
            if not ans["ok"]:
                err = ans["error"]
                break
        self.assertIsNotNone(err, "250 submissions of 6 kB went onto a full disk")
        self.assertEqual(err["code"], "internal", err)
        self.assertIn("database or disk is full", err["message"])
        self.assertNotIn("no transaction is active", err["message"])
        self.assertLess(now_local(), self.due1, "the disk filled only after the deadline: "
                        "this machine is too slow for the test's 12 s")
        # the deadline passes on a full disk: the engine says why, with the instant
        # in ISO-8601, and applies it once there is room again
        d.wait_log(r"engine: could not apply what is due at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
                   r"\+08:00: database or disk is full", timeout=WAIT + 10)
        self.assertNotIn("no transaction is active", d.log())
        os.unlink(filler)
        d.wait_log(r"deduction: ua row 1 late -1 points", timeout=30)
        self.assertEqual([e["type"] for e in self.entries("ub", "2")], ["submission"])
        self.assertEqual(len(self.entries("ub", "1", "late")), 1)

    def test_20f_control_characters_refused_and_shown_escaped(self):
        conf = self.temp_plan()
        d = self.daemon(conf)
        evil = "ok\x1b[2J\x1b]0;PWNED\x07"
        err = self.refused("control-character", "submit", "ua", "1", "--note", evil)
        self.assertIn("--note", err["message"])
        sub = self.ok("submit", "ua", "1", "--note", "fine")
        self.refused("control-character", "void", str(sub["id"]), "--reason", "a\x9bb")
        self.assert_no_writes_but("submit ua 1 --note fine")
        # what an older database may hold: shown as escapes, never sent raw
        d.term()
        db = os.path.join(self.state, "kaohe.db")
        sql = ("UPDATE entries SET note = '%s' WHERE id = %d;"
               "INSERT INTO outbox(at, kind, unit, dept, subject, channel, address, name, mentions,"
               " next_ms, since_ms, updated_at, state, year)"
               " VALUES(1, 'before', 'ua', '', 'sub' || char(13) || 'ject', 'email', '',"
               " '张' || char(13, 10) || '三', '', 0, 0, 1, 2,"
               " (SELECT year FROM entries WHERE id = %d));"
               % (evil.replace("'", "''"), sub["id"], sub["id"]))
        # the publisher kaohed started may still hold the database a moment
        r = subprocess.run(["sqlite3", "-cmd", ".timeout %d" % (WAIT * 1000), db, sql],
                           capture_output=True, text=True, timeout=2 * WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        for args in (("explain", "ua", "1"), ("outbox",), ("--wide", "explain", "ua", "1"),
                     ("--wide", "outbox")):
            r = self.ctl(*args, json_out=False)
            self.assertEqual(r.returncode, 0, r)
            out = r.stdout.decode("utf-8")
            for ch in ("\x1b", "\x07", "\r"):
                self.assertNotIn(ch, out, "kaohectl %s printed a raw %r" % (args, ch))
            if args[0] != "--wide":
                continue  # cut to 80 columns: the escapes are checked whole with --wide
            if args[1] == "explain":
                self.assertIn(r"ok\x1b[2J\x1b]0;PWNED\x07", out)
            else:
                self.assertIn(r"张\r\n三", out)
                self.assertIn(r"sub\rject", out)
                self.check_aligned(out, "id")
        # --json passes the daemon's answer as it came (JSON escapes are text)
        ans = self.ok("explain", "ua", "1")
        self.assertEqual(ans["rows"][0]["entries"][0]["note"], evil)

    def test_20g_c1_and_del_escaped_in_json_and_reports(self):
        d = self.daemon(self.temp_plan())
        rec = self.ok("record", "ua", "1", "f1", "--note", "fine")
        # what an older database may hold: CSI as its C1 form, DEL, ESC
        d.term()
        db = os.path.join(self.state, "kaohe.db")
        sql = ("UPDATE entries SET note = 'a' || char(155) || '2J' || char(127) || 'b'"
               " || char(27) || 'c' WHERE id = %d;" % rec["id"])
        r = subprocess.run(["sqlite3", "-cmd", ".timeout %d" % (WAIT * 1000), db, sql],
                           capture_output=True, text=True, timeout=2 * WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        raw = self.ctl("explain", "ua", "1")
        self.assertEqual(raw.returncode, 0, raw)
        for b in (b"\xc2\x9b", b"\x7f", b"\x1b"):
            self.assertNotIn(b, raw.stdout, "kaohectl --json printed a raw %r" % b)
        self.assertIn(rb"a\u009b2J\u007fb\u001Bc", raw.stdout)
        # the escapes are the same JSON
        note = [e for e in json.loads(raw.stdout)["data"]["rows"][0]["entries"]
                if e["id"] == rec["id"]][0]["note"]
        self.assertEqual(note, "a\x9b2J\x7fb\x1bc")
        cur = "%d-Q%d" % (now_local().year, (now_local().month - 1) // 3 + 1)
        for fmt in ("html", "csv", "json"):
            for js in (False, True):
                r = self.ctl("report", cur, "--format", fmt, json_out=js)
                self.assertEqual(r.returncode, 0, r)
                for b in (b"\xc2\x9b", b"\x7f", b"\x1b"):
                    self.assertNotIn(b, r.stdout, "kaohectl%s report --format %s printed a raw %r"
                                     % (" --json" if js else "", fmt, b))
                if fmt == "html":  # notes show in its footnotes only
                    self.assertIn(rb"\u009b2J", r.stdout, (fmt, js))

    def assert_no_writes_but(self, *commands):
        self.assertEqual([a["command"] for a in self.ok("audit", "100")], list(commands))

    check_aligned = TestKaohectl.check_aligned


if __name__ == "__main__":
    for path, what in ((KAOHED, "KAOHED"), (KAOHECTL, "KAOHECTL"), (SHIPPED_CONF, "CONFIG_DIR/kaohe.conf")):
        if not os.path.exists(path):
            sys.exit("%s: %s does not exist (usage: test_daemon.py KAOHED KAOHECTL CONFIG_DIR)"
                     % (what, path))
    unittest.main(argv=[sys.argv[0]])
