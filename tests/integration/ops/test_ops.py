#!/usr/bin/python3
"""Integration tests of what an operator reaches for: the metrics
(`kaohectl metrics` and kaohe.metrics_file), the log's levels and
timestamps, `kaohed restore`, and the README's list of error codes.

Usage:
    /usr/bin/python3 test_ops.py KAOHED KAOHECTL CONFIG_DIR

The metrics are parsed with python3-prometheus-client's parser and checked
by `promtool check metrics` (Debian's prometheus); a test whose tool is
missing fails, naming the package. Deliveries go to a real HTTP server on
127.0.0.1. No test sleeps waiting for a deadline: dues are date-times a
few seconds ahead, and the waits poll.
"""

import datetime as dt
import http.server
import os
import time
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (KAOHED, REPO, SHIPPED_CONF, TZ, DaemonTestCase, db_query,  # noqa: E402
                     iso, now_local, temp_config, utf8_env, wait_until)

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Sink(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint: /ok answers 204, /fail 500 (tried again), anything
    else 400 (refused for good)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response({"/ok": 204, "/fail": 500}.get(self.path, 400))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def samples(text):
    """{(name, frozenset(labels)): value} of a metrics text, through prometheus_client."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def value(smp, name, **labels):
    return smp.get((name, frozenset(labels.items())))


class OpsTestCase(DaemonTestCase):

    def webhook_plan(self, port, due1_in=8, due2_in=900, extra_kaohe="", robot="ok"):
        """The daemon tests' small plan with two generic webhooks: "robot"
        (at /ROBOT: 204) serving ua, "broken" (400: dead at once) serving ub."""
        # tracked from January: the first start takes the quarters already past
        conf = self.temp_plan(due1_in=due1_in, due2_in=due2_in, close="4s", log_level="info",
                              track_from="01-01")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("channels: { };", """channels: {
  webhooks = (
    { name = "robot"; type = "generic"; url = "http://127.0.0.1:%d/%s"; units = [ "ua" ]; },
    { name = "broken"; type = "generic"; url = "http://127.0.0.1:%d/bad"; units = [ "ub" ]; }
  );
};""" % (port, robot, port), 1)
        text = text.replace('log_level = "info";', 'log_level = "info";\n' + extra_kaohe, 1)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        return conf

    def http_sink(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def metrics(self):
        r = self.ctl("metrics", json_out=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def promtool(self, text):
        self.assertTrue(os.path.exists(PROMTOOL), "promtool is missing (Debian package prometheus)")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, "promtool check metrics:\n%s%s\n%s"
                         % (r.stdout.decode(), r.stderr.decode(), text))


class TestMetrics(OpsTestCase):

    def test_01_metrics_follow_the_daemon(self):
        port = self.http_sink()
        mfile = os.path.join(self.tmp, "prom", "kaohe.prom")
        os.mkdir(os.path.dirname(mfile))
        conf = self.webhook_plan(port, extra_kaohe='  metrics_file = "%s";\n  metrics_interval = 1;'
                                 % mfile)
        d = self.daemon(conf)
        year = now_local().year

        text = self.metrics()
        self.promtool(text)
        m = samples(text)
        self.assertEqual(value(m, "kaohe_plan_year_in_force", year=str(year)), 1, text)
        for ch in ("robot", "broken"):
            for st in ("sent", "failed", "dead", "cancelled"):
                self.assertEqual(value(m, "kaohe_deliveries_total", channel=ch, state=st), 0, text)
        for kind in ("late", "missing", "ranking"):
            self.assertEqual(value(m, "kaohe_deductions_total", kind=kind), 0, text)
        self.assertEqual(value(m, "kaohe_reloads_total", result="ok"), 0)
        self.assertEqual(value(m, "kaohe_outbox_dead_deliveries"), 0)
        self.assertEqual(value(m, "kaohe_engine_next_due_timestamp_seconds"),
                         int(self.due1.timestamp()) - 2, "the reminder 2 s before row 1's due")
        self.assertGreater(value(m, "kaohe_engine_last_run_timestamp_seconds"),
                           now_local().timestamp() - 60)
        self.assertGreater(value(m, "kaohe_database_size_bytes"), 4096)
        self.assertEqual(value(m, "kaohe_control_clients"), 1, "the metrics request itself")

        # the file: written at once, then every second, whole
        first = wait_until(lambda: os.path.exists(mfile) and read(mfile), what=mfile)
        self.promtool(first)
        self.assertEqual(os.stat(mfile).st_mode & 0o777, 0o644)
        self.assertEqual(os.listdir(os.path.dirname(mfile)), ["kaohe.prom"], "no temporary left")

        # a submission, a refused one, a reload and a refused reload
        self.ok("submit", "ua", "1")
        self.refused("unknown-unit", "submit", "nowhere", "1")
        self.ok("reload")
        with open(conf, encoding="utf-8") as f:
            good = f.read()
        with open(conf, "w", encoding="utf-8") as f:
            f.write(good.replace("total = 10;", "total = ten;"))
        self.refused("bad-config", "reload")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(good)

        # the reminder 2 s before row 1's due: ua submitted, so only ub's,
        # over "broken", which dies at once; ub then misses the deadline
        wait_until(lambda: db_query(self.state, "SELECT count(*) FROM entries WHERE type = 3")[0][0]
                   == 1, timeout=30, what="ub's missing deduction at the close")
        wait_until(lambda: db_query(self.state, "SELECT count(*) FROM outbox WHERE state = 4")[0][0]
                   >= 1, timeout=20, what="the dead delivery")
        text = self.metrics()
        self.promtool(text)
        m = samples(text)
        self.assertEqual(value(m, "kaohe_control_requests_total", command="submit", result="ok"), 1,
                         text)
        self.assertEqual(value(m, "kaohe_control_requests_total", command="submit",
                               result="unknown-unit"), 1, text)
        self.assertEqual(value(m, "kaohe_control_requests_total", command="metrics", result="ok"),
                         1, text)
        self.assertEqual(value(m, "kaohe_reloads_total", result="ok"), 1, text)
        self.assertEqual(value(m, "kaohe_reloads_total", result="failed"), 1, text)
        dead = db_query(self.state, "SELECT count(*) FROM outbox WHERE state = 4 AND channel = "
                        "'broken'")[0][0]
        self.assertGreaterEqual(dead, 1)
        self.assertEqual(value(m, "kaohe_deliveries_total", channel="broken", state="dead"), dead,
                         text)
        self.assertEqual(value(m, "kaohe_outbox_deliveries", channel="broken", state="dead"), dead)
        self.assertEqual(value(m, "kaohe_outbox_dead_deliveries"), dead)
        self.assertEqual(value(m, "kaohe_deliveries_total", channel="robot", state="sent"), 0,
                         "ua submitted before its reminder")
        late = db_query(self.state, "SELECT count(*) FROM entries WHERE type = 2")[0][0]
        self.assertEqual(value(m, "kaohe_deductions_total", kind="late"), late, text)
        self.assertEqual(value(m, "kaohe_deductions_total", kind="missing"), 1, text)
        self.assertEqual(value(m, "kaohe_engine_next_due_timestamp_seconds"),
                         int(self.due2.timestamp()) - 2, "now row 2's reminder")
        # the file follows
        wait_until(lambda: "kaohe_outbox_dead_deliveries %d" % dead in read(mfile),
                   what="the metrics file to show the dead delivery")
        self.promtool(read(mfile))
        d.term()

    def test_02_who_may_read_them(self):
        conf = self.temp_plan(log_level="info")
        self.daemon(conf)
        # officers and admins only: kaohectl as root is the admin of the temporary plan;
        # a plan whose admins do not name root refuses root
        self.assertEqual(self.metrics().count("# TYPE kaohe_deliveries_total counter"), 1)
        conf2 = os.path.join(self.tmp, "other.conf")
        temp_config(conf2, os.path.join(self.tmp, "o"),
                    {"1": iso(self.due1), "2": iso(self.due2)},
                    access={"admins": (("nobody-here",), ())})
        os.makedirs(os.path.join(self.tmp, "o"))
        self.daemon(conf2)
        r = self.cj("metrics", expect=1, sock=os.path.join(self.tmp, "o", "control.sock"))
        self.assertEqual(r["error"]["code"], "permission-denied", r)
        # simulate has no daemon to measure
        ev = os.path.join(self.tmp, "events")
        with open(ev, "w") as f:
            f.write("%s metrics\n" % iso(now_local().replace(month=1, day=2, hour=0, minute=0,
                                                                second=0)))
        year = now_local().year
        r = subprocess.run([KAOHED, "-c", conf, "simulate", "--from", "%d-01-01" % year,
                            "--to", "%d-01-03" % year, "--events", ev], capture_output=True,
                           env=utf8_env())
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("unavailable", r.stderr.decode())


# An ISO-8601 instant with milliseconds and offset, then the program, the level, the message.
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) kaohed: "
                  r"(error|warning|info|debug): (.*)$")


class TestLog(OpsTestCase):

    def lines(self, d):
        """The daemon's log as (instant, level, message); every line must parse."""
        out = []
        for line in d.log().splitlines():
            m = LINE.match(line)
            self.assertIsNotNone(m, "a foreground line without its timestamp: %r" % line)
            out.append((dt.datetime.fromisoformat(m.group(1)), m.group(2), m.group(3)))
        return out

    def test_10_foreground_lines_carry_the_time(self):
        before = now_local()
        d = self.shipped()
        d.term()
        lines = self.lines(d)
        self.assertGreater(len(lines), 3)
        for t, _, _ in lines:
            self.assertLessEqual(abs((t - before).total_seconds()), 60, lines)
            self.assertEqual(t.utcoffset(), dt.timedelta(hours=8), "the plan's zone: %s" % t)
        # the shipped plan's inconsistencies are warnings
        warned = [m for _, lvl, m in lines if lvl == "warning"]
        for row in ("2c", "6b", "12", "16a", "16b"):
            self.assertTrue(any("row %s:" % row in m for m in warned), (row, warned))
        # and kaohed --check's output stays "file:line: message", no time before it
        r = subprocess.run([KAOHED, "-c", SHIPPED_CONF, "--check"], capture_output=True,
                           env=utf8_env())
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stderr.decode().splitlines()[0], r"^[^ ]+\.conf:\d+: warning: ")

    def test_11_levels(self):
        port = self.http_sink()
        conf = self.webhook_plan(port, robot="fail")
        d = self.daemon(conf)
        # ua's reminder fails (500: tried again), ub's dies (400)
        wait_until(lambda: any("is dead after" in m for _, _, m in self.lines(d)), timeout=30,
                   what="the dead delivery's log line")
        wait_until(lambda: any(" failed (attempt 1" in m for _, _, m in self.lines(d)),
                   timeout=30, what="the failed delivery's log line")
        lines = self.lines(d)
        dead = [(lvl, m) for _, lvl, m in lines if "is dead after" in m]
        failed = [(lvl, m) for _, lvl, m in lines if " failed (attempt" in m]
        self.assertEqual({lvl for lvl, _ in dead}, {"error"}, dead)
        self.assertEqual({lvl for lvl, _ in failed}, {"warning"}, failed)

        # a refused reload: one line, an error, naming file:line; a move
        # then publishes the feeds, which the edited files hold back in
        # one warning, without "publish: publish:" or a failure besides
        with open(conf, encoding="utf-8") as f:
            good = f.read()
        lines_of = good.split("\n")
        bad = next(i for i, line in enumerate(lines_of) if line.startswith("calendar:")) + 1
        lines_of[bad - 1] = "calendar: { this is not libconfig"
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines_of))
        mark = len(self.lines(d))
        self.refused("bad-config", "reload")
        self.ok("move", "2", iso(self.due2 + dt.timedelta(hours=1)), "--reason", "test")
        d.wait_log("configuration files changed")
        new = self.lines(d)[mark:]
        about = [(lvl, m) for _, lvl, m in new if "reload" in m and "reading" not in m
                 or m.startswith("publish")]
        self.assertEqual(len(about), 2, about)
        self.assertEqual(about[0][0], "error", about)
        self.assertRegex(about[0][1], r"^reload: refused: .*kaohe\.conf:%d: " % bad)
        self.assertEqual(about[1], ("warning", "publish: the configuration files changed since "
                                    "kaohed last loaded them; not published until a reload "
                                    "(kaohectl reload) takes them"), about)
        d.term()


class TestRestore(OpsTestCase):

    def restore(self, conf, state, backup, *extra):
        return subprocess.run([KAOHED, "-c", conf, "--state-dir", state] + list(extra) +
                              ["restore", backup], capture_output=True, env=utf8_env(), timeout=60)

    @staticmethod
    def schema(backup):
        """The schema version of BACKUP, as kaohed restore says it."""
        con = sqlite3.connect("file:%s?mode=ro" % backup, uri=True)
        try:
            return con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()

    def held(self, backup):
        """What BACKUP holds of each plan year, as kaohed restore says it:
        {year: (applied up to, adopted at, entries, snapshots, deliveries)}."""
        con = sqlite3.connect("file:%s?mode=ro" % backup, uri=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta"))
            years = {y for (y,) in con.execute("SELECT year FROM entries UNION SELECT year"
                                               " FROM snapshots UNION SELECT year FROM outbox")}
            years |= {int(k.split(":")[1]) for k in meta if k.startswith(("hwm:", "adopted:"))}

            def count(table, y):
                return con.execute("SELECT count(*) FROM %s WHERE year = ?" % table,
                                   (y,)).fetchone()[0]

            def at(key):
                return iso(dt.datetime.fromtimestamp(int(meta[key]), TZ))
            return {y: (at("hwm:%d" % y), at("adopted:%d" % y), count("entries", y),
                        count("snapshots", y), count("outbox", y)) for y in years}
        finally:
            con.close()

    def ledger(self, state):
        return sorted(db_query(state, "SELECT u.id, e.type, e.row_id, coalesce(e.occ, ''), e.points,"
                               " e.at, e.voided_at IS NULL, e.actor FROM entries e"
                               " JOIN units u ON u.ref = e.unit_ref"))

    def test_20_restore_into_a_fresh_state_directory(self):
        port = self.http_sink()
        conf = self.webhook_plan(port, due1_in=8, due2_in=30)
        a = self.daemon(conf)
        self.ok("submit", "ua", "1")
        self.ok("record", "ub", "1", "f1")
        # row 1 runs its course: ub's reminder dies, ub is late, then missing
        wait_until(lambda: db_query(self.state, "SELECT count(*) FROM entries WHERE type = 3"
                                    " AND row_id = '1'")[0][0] == 1, timeout=40,
                   what="ub missing row 1")
        backup = os.path.join(self.tmp, "backup.db")
        self.ok("backup", backup)
        at_backup = {"scores": self.ok("scores"), "snapshots": self.ok("snapshots"),
                     "outbox": db_query(self.state, "SELECT id, kind, unit, channel, state, code"
                                        " FROM outbox ORDER BY id"),
                     "ledger": self.ledger(self.state)}
        self.assertTrue(at_backup["outbox"], "the backup holds deliveries")
        self.assertTrue(at_backup["snapshots"], "the quarters already past are in the backup")
        # row 2 falls due after the backup: reminded, late, then missing for both
        wait_until(lambda: db_query(self.state, "SELECT count(*) FROM entries WHERE type = 3"
                                    " AND row_id = '2'")[0][0] == 2, timeout=60,
                   what="row 2 missing for ua and ub")
        final = {"scores": self.ok("scores"), "ledger": self.ledger(self.state)}
        self.assertEqual(a.term(), 0)

        # into a fresh state directory, then kaohed on it
        fresh = os.path.join(self.tmp, "fresh")
        os.mkdir(fresh)
        r = self.restore(conf, fresh, backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        # one plan year: on one line
        (hwm, adopted, entries, snapshots, deliveries), = self.held(backup).values()
        self.assertEqual((entries, snapshots, deliveries),
                         (len(at_backup["ledger"]), len(at_backup["snapshots"]),
                          len(at_backup["outbox"])))
        self.assertEqual(out.splitlines()[0],
                         "restored %s as %s/kaohe.db: schema version %d, plan year %d, applied"
                         " up to %s (adopted at %s); %d entries, %d snapshots, %d deliveries"
                         % (backup, fresh, self.schema(backup), now_local().year, hwm, adopted,
                            entries, snapshots, deliveries))
        self.assertEqual(sorted(os.listdir(fresh)), ["kaohe.db", "kaohe.lock"])
        self.assertEqual(self.ledger(fresh), at_backup["ledger"], "as it was at the backup")

        b = self.daemon(conf, state_dir=fresh)
        # catch-up: row 2's deadline and close, once; as the first daemon had them
        self.assertEqual(self.ledger(fresh), final["ledger"])
        got = self.ok("scores")
        for k in ("units",):
            self.assertEqual(got[k], final["scores"][k])
        self.assertEqual(self.ok("snapshots"), at_backup["snapshots"])
        outbox = db_query(fresh, "SELECT id, kind, unit, channel, state, code FROM outbox"
                          " ORDER BY id")
        self.assertEqual(outbox, at_backup["outbox"],
                         "the outbox as it was; no reminder of row 2, closed by then")
        missing2 = db_query(fresh, "SELECT count(*) FROM entries WHERE type = 3 AND row_id = '2'"
                            " AND voided_at IS NULL")[0][0]
        self.assertEqual(missing2, 2)
        self.assertEqual(b.term(), 0)
        # a restart applies nothing again
        b.start()
        self.assertEqual(self.ledger(fresh), final["ledger"])
        b.term()

        # over an existing database: the one it replaces is kept aside, whole
        before = self.ledger(fresh)
        r = self.restore(conf, fresh, backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        # (with its -wal and -shm if a reader, the publisher, kept them)
        aside = sorted(f for f in os.listdir(fresh) if f.startswith("kaohe.db.before-restore-"))
        self.assertIn(len(aside), (1, 3), os.listdir(fresh))
        self.assertRegex(aside[0], r"^kaohe\.db\.before-restore-\d{8}T\d{6}Z$")
        self.assertEqual(aside[1:], [aside[0] + "-shm", aside[0] + "-wal"][:len(aside) - 1])
        self.assertIn("kept as %s/%s" % (fresh, aside[0]), r.stdout.decode())
        con = sqlite3.connect(os.path.join(fresh, aside[0]))
        self.assertEqual(len(con.execute("SELECT * FROM entries").fetchall()), len(before))
        con.close()
        self.assertEqual(self.ledger(fresh), at_backup["ledger"])

        # a second restore within the same second: the name kept aside takes
        # a number (the names of the next minute are taken beforehand)
        t0 = int(time.time())
        for t in range(t0, t0 + 60):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
            open(os.path.join(fresh, "kaohe.db.before-restore-" + stamp), "w").close()
        r = self.restore(conf, fresh, backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), r"kept as \S+/kaohe\.db\.before-restore-\d{8}T\d{6}Z\.2\n")

    def test_21_restore_refuses(self):
        conf = self.temp_plan(track_from="01-01")  # its snapshots name its year
        self.daemon(conf)
        backup = os.path.join(self.tmp, "backup.db")
        self.ok("backup", backup)
        self.ok("submit", "ua", "1")
        db = os.path.join(self.state, "kaohe.db")

        def refused(path, pattern, *extra, state=None):
            state = state or self.state
            listing = sorted(os.listdir(state))
            r = self.restore(conf, state, path, *extra)
            self.assertEqual(r.returncode, 1, r)
            self.assertRegex(r.stderr.decode(), r"^kaohed: restore: " + pattern +
                             r".*; nothing changed\n$")
            self.assertEqual(sorted(os.listdir(state)), listing, "nothing left behind")

        # while the daemon runs
        refused(backup, r"kaohed \(pid %d\) runs on the state directory" % self.daemons[0].proc.pid)
        self.assertEqual(len(self.entries("ua", "1", "submission")), 1)
        self.daemons[0].term()
        size = os.stat(db).st_size

        # a file that is no database, another program's database, a damaged one
        junk = os.path.join(self.tmp, "junk.db")
        with open(junk, "wb") as f:
            f.write(os.urandom(8192))
        refused(junk, r"%s is not a (sound )?SQLite database" % re.escape(junk))
        other = os.path.join(self.tmp, "other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE t(x)")
        con.commit()
        con.close()
        refused(other, r"%s is not a kaohe database \(schema version 0" % re.escape(other))
        damaged = os.path.join(self.tmp, "damaged.db")
        with open(backup, "rb") as f:
            data = bytearray(f.read())
        page = 4096
        self.assertGreater(len(data), 8 * page)
        for p in range(1, len(data) // page):       # every b-tree page's header
            for i in range(p * page, p * page + 8):
                data[i] ^= 0x5A
        with open(damaged, "wb") as f:
            f.write(data)
        refused(damaged, r"%s (fails PRAGMA integrity_check|is not a sound SQLite database)"
                % re.escape(damaged))
        refused(os.path.join(self.tmp, "nowhere.db"), r"cannot open .*nowhere\.db")
        fifo = os.path.join(self.tmp, "fifo.db")
        os.mkfifo(fifo)
        refused(fifo, r"%s is not a file" % re.escape(fifo))
        # another plan year's backup (its snapshots name the year)
        older = os.path.join(self.tmp, "older.db")
        shutil.copy(backup, older)
        con = sqlite3.connect(older)
        con.execute("UPDATE snapshots SET period = '2019' || substr(period, 5)")
        con.commit()
        con.close()
        refused(older, r"%s holds the plan year 2019, and the configuration runs %d"
                % (re.escape(older), now_local().year))
        self.assertEqual(os.stat(db).st_size, size)
        self.assertEqual(db_query(self.state, "SELECT count(*) FROM entries WHERE type = 1")[0][0],
                         1, "the submission made after the backup is still there")

    def two_years(self, name, years):
        """kaohe.conf NAME naming, as plans = [ … ], this year's plan (row 1
        due in 600 s) and next year's (dues of March), those of YEARS."""
        t = now_local()
        path = os.path.join(self.tmp, name)
        text = temp_config(path, self.tmp, {"1": iso(t + dt.timedelta(seconds=600)),
                                            "2": iso(t + dt.timedelta(seconds=1200))})
        head, plan = text.split("\nplan: {", 1)
        head = head.replace("calendar: { holidays = [ ]; workdays = [ ]; };\n", "")
        plan = "plan: {\n  calendar = { holidays = [ ]; workdays = [ ]; };" + plan
        other = re.sub(r'due = "[^"]+";', 'due = "03-16";',
                       plan.replace("year = %d;" % t.year, "year = %d;" % (t.year + 1), 1))
        for y, p in ((t.year, plan), (t.year + 1, other)):
            with open(os.path.join(self.tmp, "plan-%d.conf" % y), "w", encoding="utf-8") as f:
                f.write(p)
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + "plans = [ %s ];\n" % ", ".join('"plan-%d.conf"' % y for y in years))
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def test_22_restore_two_years(self):
        year = now_local().year
        both = self.two_years("kaohe.conf", (year, year + 1))
        one = self.two_years("one.conf", (year,))
        d = self.daemon(both)
        self.ok("record", "ua", "1", "f1")
        self.ok("--year", str(year + 1), "record", "ub", "1", "f1")
        backup = os.path.join(self.tmp, "backup.db")
        self.ok("backup", backup)
        self.assertEqual(d.term(), 0)
        ledger = self.ledger(self.state)
        self.assertEqual(db_query(self.state, "SELECT year, count(*) FROM entries GROUP BY year"),
                         [(year, 1), (year + 1, 1)])

        fresh = os.path.join(self.tmp, "fresh")
        os.mkdir(fresh)
        # a configuration without next year refuses what the backup holds of it
        r = self.restore(one, fresh, backup)
        self.assertEqual(r.returncode, 1, r)
        self.assertRegex(r.stderr.decode(), r"^kaohed: restore: %s holds the plan year %d, and "
                         r"the configuration runs %d: .*; nothing changed\n$"
                         % (re.escape(backup), year + 1, year))
        self.assertEqual(os.listdir(fresh), ["kaohe.lock"])
        # with both years configured it is installed, each year's records its own
        r = self.restore(both, fresh, backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        # what it holds of each year, on a line of its own
        held = self.held(backup)
        self.assertEqual(sorted(held), [year, year + 1])
        self.assertEqual(held[year + 1][:3], ("%d-12-31T23:59:59+08:00" % year,
                                              "%d-01-01T00:00:00+08:00" % (year + 1), 1))
        self.assertEqual(held[year][2], 1)
        self.assertEqual(r.stdout.decode().splitlines()[:3], [
            "restored %s as %s/kaohe.db: schema version %d, plan years %d, %d:"
            % (backup, fresh, self.schema(backup), year, year + 1)] + [
            "  %d: applied up to %s (adopted at %s); %d entries, %d snapshots, %d deliveries"
            % ((y,) + held[y]) for y in (year, year + 1)])
        self.assertEqual(self.ledger(fresh), ledger)
        self.daemon(both, state_dir=fresh)
        nxt = {u["unit"]: u for u in self.ok("--year", str(year + 1), "scores")["units"]}
        self.assertEqual((nxt["ua"]["rows"]["1"], nxt["ub"]["rows"]["1"]), (3, 2.5))


    def test_22_restore_carries_the_write_ahead_log(self):
        """A backup in WAL mode with its -wal beside it (a copy of a database
        in use, or of one not closed cleanly) is restored with what its log
        holds, not without it."""
        conf = self.temp_plan()
        self.daemon(conf)
        self.ok("submit", "ua", "1")
        backup = os.path.join(self.tmp, "backup.db")
        self.ok("backup", backup)
        self.daemons[0].term()
        live = os.path.join(self.tmp, "live.db")
        shutil.copy(backup, live)
        con = sqlite3.connect(live)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("UPDATE entries SET note = 'only in the log'")
        con.commit()
        copied = os.path.join(self.tmp, "copied.db")
        shutil.copy(live, copied)
        shutil.copy(live + "-wal", copied + "-wal")
        con.close()
        self.assertGreater(os.stat(copied + "-wal").st_size, 0)
        fresh = os.path.join(self.tmp, "fresh")
        os.mkdir(fresh)
        r = self.restore(conf, fresh, copied)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(fresh)), ["kaohe.db", "kaohe.lock"])
        self.assertEqual(db_query(fresh, "SELECT note FROM entries"), [("only in the log",)])


    @unittest.skipUnless(os.geteuid() == 0, "needs root to restore as root for another user")
    def test_23_restore_as_root_leaves_a_lock_kaohed_can_take(self):
        """Root restores into a fresh state directory of kaohed's user: the
        lock file it makes there is that user's, or kaohed refuses to start."""
        conf = self.temp_plan()
        self.daemon(conf)
        backup = os.path.join(self.tmp, "backup.db")
        self.ok("backup", backup)
        self.daemons[0].term()
        fresh = os.path.join(self.tmp, "fresh")
        os.mkdir(fresh)
        os.chown(fresh, 65534, 65534)
        r = self.restore(conf, fresh, backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("kaohe.db", "kaohe.lock"):
            st = os.stat(os.path.join(fresh, name))
            self.assertEqual((name, st.st_uid, st.st_gid), (name, 65534, 65534))


class TestErrorList(unittest.TestCase):
    """The README's list of error codes is the daemon's table, command_codes
    in daemon/command.c; and every code the sources answer with is in it."""

    def test_30_readme_lists_the_codes(self):
        def read_src(name):
            return read(os.path.join(REPO, "daemon", name))
        src = read_src("command.c")
        table = re.search(r"const char \*const command_codes\[\] = \{(.*?)NULL,", src, re.S)
        self.assertIsNotNone(table, "command_codes[] in daemon/command.c")
        codes = re.findall(r'"([a-z0-9-]+)"', table.group(1))
        self.assertGreater(len(codes), 20)
        self.assertEqual(len(codes), len(set(codes)))

        # the codes the sources answer with: command_error("CODE", …),
        # c ? "A" : "B" as its code, the control socket's own, the engine's names
        used = set()
        for name in sorted(os.listdir(os.path.join(REPO, "daemon"))):
            if not name.endswith(".c"):
                continue
            text = read_src(name)
            used.update(re.findall(r'command_error\(\s*"([a-z0-9-]+)"', text))
            for a, b in re.findall(r'command_error\(\s*\w+ \? "([a-z0-9-]+)" : "([a-z0-9-]+)"',
                                   text):
                used.update((a, b))
            used.update(re.findall(r'(?:client_error\(cl|refuse\(fd), "([a-z0-9-]+)"', text))
        names = re.search(r"engine_errcode_name\(enum engine_errcode code\)\n\{(.*?)\n\}",
                          read_src("engine.c"), re.S)
        used.update(re.findall(r'return "([a-z0-9-]+)";', names.group(1)))
        self.assertEqual(sorted(used - set(codes)), [], "answered but not in command_codes")
        self.assertEqual(sorted(set(codes) - used), [], "in command_codes but never answered")

        readme = read(os.path.join(REPO, "README.md"))
        part = re.search(r"Error codes name the problem:(.*?)A write applies whole", readme, re.S)
        self.assertIsNotNone(part, "the README's error list")
        # the codes, not what the remarks in parentheses name (`reload` …)
        listed = re.findall(r"`([a-z0-9-]+)`", re.sub(r"\([^()]*\)", "", part.group(1)))
        self.assertEqual(sorted(listed), sorted(codes), "the README lists exactly the table")
        self.assertEqual(len(listed), len(set(listed)), "each once")


if __name__ == "__main__":
    for path, what in ((KAOHED, "KAOHED"), (SHIPPED_CONF, "CONFIG_DIR/kaohe.conf")):
        if not os.path.exists(path):
            sys.exit("%s: %s does not exist (usage: test_ops.py KAOHED KAOHECTL CONFIG_DIR)"
                     % (what, path))
    unittest.main(argv=[sys.argv[0]])
