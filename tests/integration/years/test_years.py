#!/usr/bin/python3
"""Plan years on the real daemon: adoption, untracked occurrences, the
missed deductions applied on purpose, downtime caught up once, two plan
years in one database read with --year, and the end of every year.

Usage:
    /usr/bin/python3 test_years.py KAOHED KAOHECTL CONFIG_DIR

Dues are date-times a few seconds ahead or some days back; the tests poll
with a timeout and never sleep waiting for a deadline.
"""

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (KAOHED, SHIPPED_CONF, WAIT, DaemonTestCase, db_query,  # noqa: E402
                     iso, now_local, temp_config, wait_until)


def free_port():
    """A loopback TCP port nobody listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_plan(text):
    """The text of a temporary kaohe.conf as (settings, plan group), without
    the legacy calendar group (each plan file then has a calendar of its own)."""
    head, plan = text.split("\nplan: {", 1)
    head = head.replace("calendar: { holidays = [ ]; workdays = [ ]; };\n", "")
    plan = "plan: {\n  calendar = { holidays = [ ]; workdays = [ ]; };" + plan
    return head, plan


class TestAdoption(DaemonTestCase):
    """A fresh database adopts its plan year at plan.track_from, or its first start."""

    def adopted_plan(self):
        """Row 1 fell due three days ago, before track_from (two days ago),
        and closed one day ago, after it; row 2 fell due one day ago, after
        it, and closes tomorrow."""
        t = now_local()
        if t.timetuple().tm_yday < 5:
            self.skipTest("the first days of a year leave no room for days before adoption")
        self.due1 = t - dt.timedelta(days=3)
        self.due2 = t - dt.timedelta(days=1)
        self.track = (t - dt.timedelta(days=2)).date()
        path = os.path.join(self.tmp, "kaohe.conf")
        text = temp_config(path, self.tmp, {"1": iso(self.due1), "2": iso(self.due2)},
                           close="2d", track_from=self.track.strftime("%m-%d"))
        # an overdue notice a day over the two days' close, not every 2 s
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace('every = "2s";', 'every = "1d";', 1))
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def auto_entries(self):
        return db_query(self.state, "SELECT u.id, e.row_id, e.type FROM entries e"
                        " JOIN units u ON u.ref = e.unit_ref WHERE e.actor = 'auto'"
                        " AND e.voided_at IS NULL ORDER BY u.id, e.row_id")

    def test_01_nothing_before_adoption(self):
        d = self.daemon(self.adopted_plan())
        d.wait_log(r"plan year %d adopted at %s" % (self.due1.year, self.track.isoformat()))
        # row 2 (after adoption) is late for both units; row 1 is untracked,
        # even at its close after adoption
        self.assertEqual(self.auto_entries(), [("ua", "2", 2), ("ub", "2", 2)])
        ua = self.ok("status", "ua")
        occ = {o["occurrence"]: o for o in ua["occurrences"]}
        self.assertEqual(occ["1"]["state"], "untracked")
        self.assertIn("apply-missed", ua["hint"])
        self.assertIn("submit --at", ua["hint"])
        self.assertEqual(occ["2"]["state"], "overdue")
        st = self.ok("status")
        self.assertEqual(st["untracked"], 2, st)
        self.assertEqual(st["adopted"][:10], self.track.isoformat())
        self.assertEqual(self.ok("explain", "ub", "1")["untracked"], ["1"])
        # no snapshot of a quarter that ended before adoption
        self.assertEqual(self.ok("snapshots"),
                         [s for s in self.ok("snapshots") if s["at"][:10] >= self.track.isoformat()])

        # What happened is recorded: a late submission gets its late deduction.
        sub = self.ok("submit", "ua", "1", "--at", iso(self.due1 + dt.timedelta(seconds=1)))
        self.assertEqual(sub["state"], "late")
        self.assertEqual([e["type"] for e in self.entries("ua", "1")], ["submission", "late"])

        # The rest applied on purpose, once.
        self.refused("usage", "apply-missed")
        ans = self.ok("apply-missed", "--reason", "按原计划扣分")
        self.assertEqual(ans["applied"], 1, ans)
        self.assertEqual([e["type"] for e in self.entries("ub", "1", live=True)], ["missing"])
        self.assertEqual(self.ok("apply-missed", "--reason", "again")["applied"], 0)
        self.assertNotIn("untracked", self.ok("status"))
        self.assertIn("apply-missed", " ".join(a["command"] for a in self.ok("audit")))

        # A restart keeps the adoption: nothing of before it is applied again or anew.
        before = self.auto_entries()
        d.term()
        d.start()
        self.assertEqual(self.auto_entries(), before)
        self.assertEqual(self.ok("status")["adopted"][:10], self.track.isoformat())

    def test_02_downtime_is_caught_up_once(self):
        conf = self.temp_plan(due1_in=5, due2_in=3600, close="2s")
        d = self.daemon(conf)
        adopted = self.ok("status")["adopted"]
        d.term()
        # the deadline and the close pass while the daemon is down
        wait_until(lambda: now_local() > self.due1 + dt.timedelta(seconds=3), timeout=3 * WAIT,
                   what="the close of row 1")
        d.start()
        d.wait_log(r"catching up plan year")
        self.assertEqual(self.ok("status")["adopted"], adopted, "downtime is no adoption")
        missing = db_query(self.state, "SELECT COUNT(*) FROM entries WHERE type = 3"
                           " AND voided_at IS NULL AND row_id = '1'")
        self.assertEqual(missing, [(2,)])
        d.term()
        d.start()
        self.assertEqual(db_query(self.state, "SELECT COUNT(*) FROM entries WHERE type = 3"
                                  " AND row_id = '1'"), [(2,)])


class TestYears(DaemonTestCase):
    """Two plan years in one daemon and one database."""

    def two_years(self, later=1):
        """This year's plan (row 1 due in 600 s) and the plan of the year LATER
        years on (dues of March), as plans = [ … ]."""
        t = now_local()
        self.year = t.year
        path = os.path.join(self.tmp, "kaohe.conf")
        self.due1 = t + dt.timedelta(seconds=600)
        text = temp_config(path, self.tmp, {"1": iso(self.due1),
                                            "2": iso(t + dt.timedelta(seconds=1200))})
        head, plan = split_plan(text)
        other = plan.replace("year = %d;" % t.year, "year = %d;" % (t.year + later), 1)
        other = re.sub(r'due = "[^"]+";', 'due = "03-16";', other)
        for y, p in ((t.year, plan), (t.year + later, other)):
            with open(os.path.join(self.tmp, "plan-%d.conf" % y), "w", encoding="utf-8") as f:
                f.write(p)
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + 'plans = [ "plan-%d.conf", "plan-%d.conf" ];\n'
                    % (t.year, t.year + later))
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def test_01_years_apart(self):
        d = self.daemon(self.two_years())
        nxt = self.year + 1
        st = self.ok("status")
        self.assertEqual((st["year"], st["years"], st["ended"]), (self.year, [self.year, nxt], False))
        self.ok("record", "ua", "1", "f1", "2")
        self.assertEqual(self.ok("scores")["units"][0]["rows"]["1"], 2)
        # next year's ledger is its own
        nx = {u["unit"]: u for u in self.ok("--year", str(nxt), "scores")["units"]}
        self.assertEqual(nx["ua"]["rows"]["1"], 3)
        self.assertEqual(self.ok("status", "--year", str(nxt))["year"], nxt)
        self.assertEqual(self.ok("--year", str(nxt), "explain", "ua", "1")["rows"][0]["entries"], [])
        r = self.ctl("--year", str(nxt), "explain", "ua", "1")
        self.assertEqual(r.returncode, 0, r)
        # a write addresses its year; next year's plan takes nothing dated this year
        self.refused("bad-time", "--year", str(nxt), "submit", "ua", "1")
        self.ok("--year", str(nxt), "record", "ub", "1", "f1")
        self.assertEqual(db_query(self.state, "SELECT year, COUNT(*) FROM entries GROUP BY year"),
                         [(self.year, 1), (nxt, 1)])
        audit = self.ok("--year", str(nxt), "audit")
        self.assertEqual([a["command"] for a in audit], ["record ub 1 f1 --year %d" % nxt])
        err = self.refused("unknown-year", "--year", "2001", "scores")
        self.assertIn("configured: %d, %d" % (self.year, nxt), err["message"])
        self.refused("usage", "scores", "--year", "20x6")
        d.term()

    def test_03_years_no_longer_configured(self):
        """Years the database holds that a reload took out of the configuration:
        their snapshots, audit and outbox read with --year; nothing else."""
        path = self.two_years()
        nxt, last = self.year + 1, self.year - 1
        # last year too, tracked from January: its four quarters are taken
        with open(os.path.join(self.tmp, "plan-%d.conf" % nxt), encoding="utf-8") as f:
            plan = f.read()
        plan = plan.replace("year = %d;" % nxt, "year = %d;\n  track_from = \"01-01\";" % last, 1)
        with open(os.path.join(self.tmp, "plan-%d.conf" % last), "w", encoding="utf-8") as f:
            f.write(plan)
        with open(path, encoding="utf-8") as f:
            both = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(both.replace("plans = [ ", 'plans = [ "plan-%d.conf", ' % last, 1))
        self.daemon(path)
        self.assertEqual(len(self.ok("--year", str(last), "snapshots")), 4)
        self.ok("--year", str(nxt), "record", "ub", "1", "f1")
        outbox = self.ok("--year", str(nxt), "outbox")
        # only this year configured now
        with open(path, "w", encoding="utf-8") as f:
            f.write(both.replace('plans = [ "plan-%d.conf", "plan-%d.conf" ];' % (self.year, nxt),
                                 'plans = [ "plan-%d.conf" ];' % self.year, 1))
        self.ok("reload")
        self.assertEqual(self.ok("status")["years"], [self.year])
        snaps = self.ok("--year", str(last), "snapshots")
        self.assertEqual([s["period"] for s in snaps], ["%d-Q%d" % (last, q) for q in range(1, 5)])
        self.assertEqual(self.ok("snapshots", "--year", str(last)), snaps)
        audit = self.ok("--year", str(nxt), "audit")
        self.assertEqual([a["command"] for a in audit], ["record ub 1 f1 --year %d" % nxt])
        self.assertEqual(self.ok("--year", str(nxt), "outbox"), outbox)
        for cmd in (("scores",), ("status",), ("explain", "ua", "1"), ("upcoming",),
                    ("record", "ub", "1", "f1")):
            err = self.refused("unknown-year", "--year", str(nxt), *cmd)
            self.assertEqual(err["message"],
                             "plan year %d is recorded in the database but not configured: only "
                             "snapshots, audit and outbox read it (configured: %d)"
                             % (nxt, self.year), cmd)
        err = self.refused("unknown-year", "--year", "2001", "snapshots")
        self.assertIn("plan year 2001 is not configured", err["message"])
        self.assertEqual(db_query(self.state, "SELECT year, count(*) FROM entries"
                                  " WHERE year = %d GROUP BY year" % nxt), [(nxt, 1)])

    def test_02_every_year_ended(self):
        """A plan of last year on a fresh database: adopted now, nothing applied, ended."""
        t = now_local()
        path = os.path.join(self.tmp, "kaohe.conf")
        text = temp_config(path, self.tmp, {"1": "03-16", "2": "06-15"})
        text = text.replace("year = %d;" % t.year, "year = %d;" % (t.year - 1), 1)
        text = text.replace("calendar: { holidays = [ ]; workdays = [ ]; };\n", "")
        text = text.replace("plan: {\n", "plan: {\n  calendar = { holidays = [ ]; workdays = [ ]; };\n", 1)
        # the admins' mail goes to a server that is not there: the outbox keeps it
        text = text.replace("channels: { };", 'channels: { email = { url = "smtp://127.0.0.1:%d";'
                            ' from = "kaohe@example.org"; }; };' % free_port(), 1)
        text = text.replace("  shift_to_workdays = false;",
                            '  shift_to_workdays = false;\n'
                            '  admins = ( { name = "考核办"; email = "admin@example.org"; } );', 1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        d = self.daemon(path)
        d.wait_log(r"every configured plan year has ended \(latest: %d\)" % (t.year - 1))
        self.assertTrue(any("has ended" in m for m in d.messages if m.startswith("STATUS=")),
                        d.messages)
        st = self.ok("status")
        self.assertTrue(st["ended"], st)
        self.assertIn("install next year's plan", st["message"])
        self.assertEqual(db_query(self.state, "SELECT COUNT(*) FROM entries"), [(0,)])
        self.assertEqual(self.ok("snapshots"), [])
        told = "SELECT kind, subject, address FROM outbox WHERE kind = 'ended'"
        self.assertEqual(db_query(self.state, told), [("ended", str(t.year - 1), "admin@example.org")])
        # a restart says it again in the log, but tells the admins once
        d.term()
        d.start()
        d.wait_log(r"every configured plan year has ended")
        self.assertEqual(len(db_query(self.state, told)), 1)


class TestNewYearPlan(DaemonTestCase):
    """kaohed new-year: next year's plan file from the shipped one."""

    def new_year(self, *args):
        return subprocess.run([KAOHED, "-c", SHIPPED_CONF, "new-year"] + list(args),
                              capture_output=True, text=True, timeout=WAIT)

    def test_01_plan_of_2026(self):
        r = self.new_year("--year", "2026")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertRegex(out, r"\n  year = 2026;\n")
        self.assertNotIn("year = 2020;", out)
        self.assertIn('calendar = "official";', out)
        self.assertIn("# REVIEW: the title is the plan of 2020's", out)
        self.assertIn("# REVIEW: the document number is the plan of 2020's", out)
        # 2026-11-22 is a Sunday; 2026-11-10 a Tuesday
        self.assertIn("# REVIEW: 11-22 is a day off in 2026", out)
        self.assertNotIn("# REVIEW: 11-10", out)
        self.assertIn("line", r.stderr)
        # written to a new file, which loads as a plan of 2026
        plan = os.path.join(self.tmp, "plan-2026.conf")
        self.assertEqual(self.new_year("--year", "2026", "--out", plan).returncode, 0)
        with open(SHIPPED_CONF, encoding="utf-8") as f:
            conf = f.read().replace('@include "plan-2020.conf"', '@include "plan-2026.conf"')
        conf = conf.replace("kaohe: {", 'kaohe: {\n  calendar_dir = "%s";'
                            % os.path.join(os.path.dirname(SHIPPED_CONF), "calendars"), 1)
        path = os.path.join(self.tmp, "kaohe.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(conf)
        chk = subprocess.run([KAOHED, "-c", path, "--check"], capture_output=True, text=True,
                             timeout=WAIT)
        self.assertEqual(chk.returncode, 0, chk.stderr)
        self.assertIn("configuration OK", chk.stdout)
        # never over a file already there
        again = self.new_year("--year", "2026", "--out", plan)
        self.assertEqual(again.returncode, 1)
        self.assertIn("cannot write", again.stderr)

    def test_02_no_calendar(self):
        r = self.new_year("--year", "2031")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("no official calendar of 2031 is installed", r.stderr)
        self.assertIn("A new year's calendar", r.stderr)


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class TestNewYear(DaemonTestCase):
    """Across New Year on the daemon's own clock (libfaketime: its clock
    starts 20 s before midnight of December 31 and runs on)."""

    def plan_files(self, y):
        """plan-Y.conf (row 1 due 10 s before midnight, row 2 5 s before, a
        close of 2 s; row 4 ranks the metric dis at the final assessment,
        highest worst, -2 and -1) and plan-Y+1.conf (dues in January, a
        calendar of its own); kaohe.conf names plan-Y.conf only."""
        path = os.path.join(self.tmp, "kaohe.conf")
        text = temp_config(path, self.tmp, {"1": "%d-12-31T23:59:50+08:00" % y,
                                            "2": "%d-12-31T23:59:55+08:00" % y}, close="2s")
        head, plan = split_plan(text)
        plan = plan.replace("total = 10;", "total = 13;", 1)
        plan = plan.replace('{ id = "basic"; name = "基本工作"; max = 6;',
                            '{ id = "basic"; name = "基本工作"; max = 9;', 1)
        plan = plan.replace('metrics = ( { id = "sat"; name = "满意率"; unit = "%"; } );',
                            'metrics = ( { id = "sat"; name = "满意率"; unit = "%"; },\n'
                            '              { id = "dis"; name = "不合格率"; unit = "%"; } );', 1)
        plan = plan.replace("\n  );\n};", """,
    { id = "4"; annex_category = "常规工作"; category = "basic"; department = "da"; max = 3;
      content = "满意度"; time_node = "年末"; standard = "不合格率排名";
      scoring = "不合格率最高的扣2分，次高的扣1分";
      ranking = { metric = "dis"; worst = "highest"; points = [ 2, 1 ]; }; }
  );
};""", 1)
        self.assertIn('id = "4"', plan)
        self.assertIn('id = "dis"', plan)
        nxt = plan.replace("year = %d;" % y, "year = %d;" % (y + 1), 1)
        nxt = nxt.replace("%d-12-31T23:59:50+08:00" % y, "01-05")
        nxt = nxt.replace("%d-12-31T23:59:55+08:00" % y, "01-06")
        nxt = nxt.replace("calendar = { holidays = [ ]; workdays = [ ]; };",
                          'calendar = { holidays = [ "%d-01-01" ]; workdays = [ ]; };' % (y + 1))
        for year, p in ((y, plan), (y + 1, nxt)):
            with open(os.path.join(self.tmp, "plan-%d.conf" % year), "w", encoding="utf-8") as f:
                f.write(p)
        self.head = head
        self.write_conf(path, [y])
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def write_conf(self, path, years):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.head + "plans = [ %s ];\n"
                    % ", ".join('"plan-%d.conf"' % y for y in years))

    def test_01_new_year(self):
        if not os.path.exists(FAKETIME_LIB):
            self.skipTest("libfaketime is not installed (scripts/deps.sh installs faketime)")
        y = now_local().year
        path = self.plan_files(y)
        fake = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "@%d-12-31 23:59:40" % y,
                "FAKETIME_DONT_RESET": "1", "TZ": "Asia/Shanghai",
                "ASAN_OPTIONS": "verify_asan_link_order=0"}
        saved = {k: os.environ.get(k) for k in fake}
        os.environ.update(fake)
        try:
            d = self.daemon(path)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k)
                else:
                    os.environ[k] = v
        st = self.ok("status")
        self.assertEqual((st["year"], st["years"]), (y, [y]), st)
        self.assertTrue(st["now"].startswith("%d-12-31T23:59:4" % y), st)
        # the numbers row 4 ranks: ua's the worst, then ub's
        self.ok("metric", "ua", "4", "dis", "12.5")
        self.ok("metric", "ub", "4", "dis", "7")

        # next year's plan is added by a reload, before midnight
        self.write_conf(path, [y, y + 1])
        self.assertEqual(self.ok("reload")["year"], y + 1)
        self.assertEqual(self.ok("status")["years"], [y, y + 1])

        # this year's deadlines, closes, Q4 snapshot and final ranking, on time
        d.wait_log(r"deduction: ub row 1 missing", timeout=4 * WAIT)
        d.wait_log(r"next: final ranking at %d-01-01T00:00:00\+08:00" % (y + 1))
        d.wait_log(r"snapshot: %d-Q4 taken" % y, timeout=4 * WAIT)
        snaps = self.ok("--year", str(y), "snapshots")
        q4 = [s for s in snaps if s["period"] == "%d-Q4" % y]
        self.assertEqual(len(q4), 1, snaps)
        self.assertEqual(q4[0]["at"], "%d-01-01T00:00:00+08:00" % (y + 1))
        self.assertLess(q4[0]["taken_at"], "%d-01-01T00:00:05+08:00" % (y + 1), "taken on time")
        ua1 = self.ok("--year", str(y), "explain", "ua", "1")["rows"][0]["entries"]
        self.assertEqual([e["type"] for e in ua1 if "voided" not in e], ["missing"], ua1)

        # New Year's Day: the new year is read by default, and starts clean
        st = self.ok("status")
        self.assertEqual(st["year"], y + 1, st)
        self.assertEqual(st["adopted"], "%d-01-01T00:00:00+08:00" % (y + 1))
        self.assertNotIn("untracked", st)
        self.assertEqual(self.ok("snapshots"), [])
        self.assertEqual({u["rows"]["1"] for u in self.ok("scores")["units"]}, {3})
        self.assertEqual(db_query(self.state, "SELECT COUNT(*) FROM entries WHERE year = ?",
                                  (y + 1,)), [(0,)])
        # and last year stays readable
        old = {u["unit"]: u["rows"]["1"] for u in self.ok("--year", str(y), "scores")["units"]}
        self.assertEqual(old, {"ua": 0, "ub": 0})
        self.assertEqual(self.ok("--year", str(y), "status")["ended"], False)

        # this year's final ranking, at its instant (the end of Q4), read with --year
        final = "%d-01-01T00:00:00+08:00" % (y + 1)
        d.wait_log(r"deduction: ua row 4 ranking -2 points \(final ranking\)")
        d.wait_log(r"deduction: ub row 4 ranking -1 points \(final ranking\)")
        for unit, position, points in (("ua", 1, -2), ("ub", 2, -1)):
            es = self.ok("--year", str(y), "explain", unit, "4")["rows"][0]["entries"]
            rk = [e for e in es if e["type"] == "ranking"]
            self.assertEqual([(e["position"], e["points"], e["at"], e["by"], "voided" in e)
                              for e in rk], [(position, points, final, "auto", False)], es)
            self.assertLess(rk[0]["recorded_at"], "%d-01-01T00:00:05+08:00" % (y + 1),
                            "taken on time")
        # the Q4 snapshot is the final assessment: it holds the ranking
        rep = self.ok("--year", str(y), "report", "%d-Q4" % y, "--format", "json")
        self.assertFalse(rep["provisional"], rep)
        q4 = json.loads(rep["content"])
        self.assertEqual((q4["period"], q4["as_of"]), ("%d-Q4" % y, final))
        self.assertEqual({u["unit"]: u["rows"]["4"] for u in q4["units"]}, {"ua": 1, "ub": 2})
        self.assertEqual({u["unit"]: u["rows"]["4"]
                          for u in self.ok("--year", str(y), "scores")["units"]},
                         {"ua": 1, "ub": 2})
        # automatic: the year's audit holds the commands only
        self.assertEqual([a["command"] for a in self.ok("--year", str(y), "audit")],
                         ["metric ua 4 dis 12.5", "metric ub 4 dis 7", "reload"])
        # and next year has nothing of it: row 4 full, no ranking entry
        self.assertEqual({u["rows"]["4"] for u in self.ok("scores")["units"]}, {3})
        self.assertEqual(self.ok("explain", "ua", "4")["rows"][0]["entries"], [])
        self.assertEqual(self.ok("audit"), [])
        self.assertEqual(db_query(self.state, "SELECT year, COUNT(*) FROM entries"
                                  " WHERE type = 7 GROUP BY year"), [(y, 2)])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
