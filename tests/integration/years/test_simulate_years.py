#!/usr/bin/python3
"""`kaohed simulate` over two plan years on one virtual clock: 2026 (the
official calendar of config/calendars) and 2027 (a calendar of its own),
simulated from 2026-12-01 to 2027-02-01.

Usage:
    /usr/bin/python3 test_simulate_years.py KAOHED KAOHECTL CONFIG_DIR

Virtual time only: nothing waits for a clock.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from harness import CONFIG_DIR, KAOHED, now_local, temp_config  # noqa: E402
from test_years import split_plan  # noqa: E402

TIMEOUT = 120
NEW_YEAR = "2027-01-01T00:00:00+08:00"

# Each event's line number is its index here plus one.
EVENTS = """\
2026-12-05T10:00:00+08:00 record ua 1 f1
2026-12-08T10:00:00+08:00 submit ua 1
2026-12-08T10:00:00+08:00 submit ub 1
2027-01-05T10:00:00+08:00 record ub 1 f1
2027-01-06T10:00:00+08:00 record ua 1 f1 --year 2026
2027-01-10T10:00:00+08:00 submit ua 1
2027-01-14T10:00:00+08:00 submit ub 1
"""


def plan_files(tmp, track_from=None):
    """kaohe.conf naming plan-2026.conf (rows 1 and 2 due 12-10 and 12-15,
    the official calendar) and plan-2027.conf (due 01-12 and 01-20, a
    calendar of its own); a close of five days, overdue reminders daily."""
    path = os.path.join(tmp, "kaohe.conf")
    text = temp_config(path, tmp, {"1": "12-10", "2": "12-15"}, close="5d",
                       track_from=track_from)
    text = text.replace('every = "2s";', 'every = "1d";', 1)
    head, plan = split_plan(text)
    head = head.replace("kaohe: {", 'kaohe: {\n  calendar_dir = "%s";'
                        % os.path.join(CONFIG_DIR, "calendars"), 1)
    this = now_local().year
    p26 = plan.replace("year = %d;" % this, "year = 2026;", 1)
    p26 = p26.replace("calendar = { holidays = [ ]; workdays = [ ]; };", 'calendar = "official";')
    p27 = plan.replace("year = %d;" % this, "year = 2027;", 1)
    p27 = p27.replace('due = "12-10";', 'due = "01-12";').replace('due = "12-15";', 'due = "01-20";')
    p27 = p27.replace("calendar = { holidays = [ ]; workdays = [ ]; };",
                      'calendar = { holidays = [ "2027-01-01" ]; workdays = [ ]; };')
    p27 = p27.replace('  track_from = "%s";\n' % track_from, "") if track_from else p27
    for y, p in ((2026, p26), (2027, p27)):
        with open(os.path.join(tmp, "plan-%d.conf" % y), "w", encoding="utf-8") as f:
            f.write(p)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + 'plans = [ "plan-2026.conf", "plan-2027.conf" ];\n')
    return path


class TestSimulateYears(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kaohe-simyears-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def simulate(self, conf, events, *extra):
        path = os.path.join(self.tmp, "events.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(events)
        cmd = [KAOHED, "-c", conf, "simulate", "--from", "2026-12-01", "--to", "2027-02-01",
               "--events", path] + list(extra)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=TIMEOUT)

    def lines(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        out = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertTrue(out, r.stderr)
        return out

    @staticmethod
    def rows(scores, row):
        return {u["unit"]: u["rows"][row] for u in scores["units"]}

    def test_01_two_years_one_clock(self):
        export = os.path.join(self.tmp, "export")
        out = self.lines(self.simulate(plan_files(self.tmp), EVENTS, "--export", export))
        for o in out:
            self.assertIn(o.get("year"), (2026, 2027), o)

        # The last lines: one standing per plan year, oldest first, at --to.
        *body, s26, s27 = out
        self.assertEqual([(s["type"], s["year"], s["at"]) for s in (s26, s27)],
                         [("scores", 2026, "2027-02-01T00:00:00+08:00"),
                          ("scores", 2027, "2027-02-01T00:00:00+08:00")])
        self.assertNotIn("scores", [o["type"] for o in body])

        # One clock: time order, and at one instant the older year first.
        keys = [(o["at"], o["year"]) for o in body]
        self.assertEqual(keys, sorted(keys))

        # 2026's fourth quarter, taken at New Year, is 2026's.
        snaps = [(o["period"], o["year"], o["at"]) for o in body if o["type"] == "snapshot"]
        self.assertIn(("2026-Q4", 2026, NEW_YEAR), snaps)
        self.assertEqual([s for s in snaps if s[1] == 2027], [])

        # Each year's deductions and reminders are its own, before and after New Year.
        ded = {(o["year"], o["unit"], o["row"], o["reason"]) for o in body
               if o["type"] == "deduction"}
        self.assertEqual(ded, {(2026, "ua", "2", "late"), (2026, "ub", "2", "late"),
                               (2026, "ua", "2", "missing"), (2026, "ub", "2", "missing"),
                               (2027, "ub", "1", "late"),
                               (2027, "ua", "2", "late"), (2027, "ub", "2", "late"),
                               (2027, "ua", "2", "missing"), (2027, "ub", "2", "missing")})
        for o in body:
            if o["type"] == "deduction":
                self.assertEqual(o["year"], 2026 if o["at"] <= NEW_YEAR else 2027, o)
        rem = [o for o in body if o["type"] == "reminder"]
        self.assertTrue([o for o in rem if o["year"] == 2026], "2026's reminders")
        self.assertTrue([o for o in rem if o["year"] == 2027], "2027's reminders")
        for o in rem:
            self.assertEqual(o["year"], 2026 if o["at"] < NEW_YEAR else 2027, o)

        # The events without --year went to the year in force at their
        # instant; the one with --year 2026 after New Year to 2026.
        self.assertEqual(self.rows(s26, "1"), {"ua": 2, "ub": 3})
        self.assertEqual(self.rows(s26, "2"), {"ua": 1, "ub": 1})
        # 2027 holds nothing of 2026: ub's finding and late submission only.
        self.assertEqual(self.rows(s27, "1"), {"ua": 3, "ub": 1.5})
        self.assertEqual(self.rows(s27, "2"), {"ua": 1, "ub": 1})

        # --export: each year's publication in its directory, and the index across years.
        for f in ("2026/index.html", "2027/index.html", "index.html"):
            self.assertTrue(os.path.isfile(os.path.join(export, f)), f)
        with open(os.path.join(export, "index.html"), encoding="utf-8") as f:
            index = f.read()
        self.assertIn("2026/index.html", index)
        self.assertIn("2027/index.html", index)

    def test_02_track_from_wins_over_from(self):
        """A plan year with plan.track_from is adopted there, as on a fresh
        database: row 1 of 2026 fell due before it and is untracked."""
        out = self.lines(self.simulate(plan_files(self.tmp, track_from="12-12"), ""))
        ded = {(o["year"], o["unit"], o["row"], o["reason"]) for o in out
               if o["type"] == "deduction" and o["year"] == 2026}
        self.assertEqual(ded, {(2026, "ua", "2", "late"), (2026, "ub", "2", "late"),
                               (2026, "ua", "2", "missing"), (2026, "ub", "2", "missing")})
        # without it, --from (12-01) is the adoption: row 1 counts
        out = self.lines(self.simulate(plan_files(self.tmp), ""))
        self.assertIn((2026, "ua", "1", "missing"),
                      {(o["year"], o["unit"], o["row"], o["reason"]) for o in out
                       if o["type"] == "deduction"})

    def test_03_unknown_year(self):
        events = EVENTS.replace("submit ub 1\n2027", "submit ub 1 --year 2025\n2027", 1)
        r = self.simulate(plan_files(self.tmp), events)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("events.txt:3: unknown-year: plan year 2025 is not configured "
                      "(configured: 2026, 2027", r.stderr)
        # one bad line: the others are not reported
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
