#!/usr/bin/python3
"""Integration test: a whole year of the 2020 Xigang plan through `kaohed simulate`.

Usage:
    /usr/bin/python3 test_year2020.py KAOHED [CONFIG]
or with the environment variables KAOHED and KAOHE_CONFIG. CONFIG defaults to
config/kaohe.conf of the repository this file lives in.

It runs
    KAOHED -c CONFIG simulate --from 2020-05-01 --to 2021-01-01 --events events.txt
and checks the JSON Lines output against expected.json, whose numbers were worked
out by hand from plan-2020.md (see WORKINGS.md). Standard library only.
"""

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS = os.path.join(HERE, "events.txt")
EXPECTED = os.path.join(HERE, "expected.json")
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

KAOHED = os.environ.get("KAOHED")
CONFIG = os.environ.get("KAOHE_CONFIG") or os.path.join(REPO, "config", "kaohe.conf")

TOL = 0.001
TIMEOUT = 600

ROW_IDS = ["1", "2a", "2b", "2c", "3", "4", "5", "6a", "6b", "6c", "7a", "7b",
           "7c", "7d", "8", "9", "10", "11", "12", "13", "14", "15", "16a",
           "16b", "16c", "17a", "17b", "18"]
UNIT_NAMES = {"八一路": "bayilu", "人民广场": "renminguangchang", "白云": "baiyun",
              "日新": "rixin", "香炉礁": "xianglujiao"}


# ----------------------------------------------------------------- helpers

def parse_instant(value):
    """ISO-8601 with offset -> aware datetime (compared as instants)."""
    if not isinstance(value, str):
        raise ValueError("instant is not a string: %r" % (value,))
    s = value.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError("instant without offset: %r" % (value,))
    return t


def fmt(t):
    return t.isoformat() if isinstance(t, dt.datetime) else repr(t)


def num_eq(a, b):
    return (isinstance(a, (int, float)) and not isinstance(a, bool)
            and isinstance(b, (int, float)) and not isinstance(b, bool)
            and abs(a - b) <= TOL)


def unit_id(value):
    return UNIT_NAMES.get(value, value)


def units_by_id(units):
    """A units array (or, leniently, an object keyed by unit id) -> {id: element}."""
    if isinstance(units, dict):
        return {unit_id(k): v for k, v in units.items()}
    out = {}
    for el in units or []:
        if isinstance(el, dict) and "unit" in el:
            out[unit_id(el["unit"])] = el
    return out


def compare_units(label, expected_units, got_units):
    """Returns a list of diff-like lines; empty when equal."""
    diffs = []
    got = units_by_id(got_units)
    for exp in expected_units:
        uid = exp["unit"]
        g = got.get(uid)
        if g is None:
            diffs.append("%s: unit %s missing (units present: %s)"
                         % (label, uid, ", ".join(sorted(got)) or "none"))
            continue
        for field in ("total", "basic", "key"):
            if not num_eq(g.get(field), exp[field]):
                diffs.append("%s %s %-5s expected %s, got %r"
                             % (label, uid, field, exp[field], g.get(field)))
        if g.get("rank") != exp["rank"] or isinstance(g.get("rank"), bool):
            diffs.append("%s %s rank  expected %s, got %r"
                         % (label, uid, exp["rank"], g.get("rank")))
        rows = g.get("rows")
        if not isinstance(rows, dict):
            diffs.append("%s %s: no rows object (got %r)" % (label, uid, rows))
            continue
        for rid in ROW_IDS:
            if rid not in rows:
                diffs.append("%s %s row %-3s missing" % (label, uid, rid))
            elif not num_eq(rows[rid], exp["rows"][rid]):
                diffs.append("%s %s row %-3s expected %s, got %r"
                             % (label, uid, rid, exp["rows"][rid], rows[rid]))
    extra = sorted(set(got) - {e["unit"] for e in expected_units})
    if extra:
        diffs.append("%s: unexpected units %s" % (label, ", ".join(extra)))
    return diffs


def read_events(path):
    """[(line_no, instant, argv)] of the events file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            ts, _, rest = s.partition(" ")
            out.append((no, parse_instant(ts), shlex.split(rest)))
    return out


def first_submissions(events):
    """{(unit, occurrence): instant of the first submit}."""
    first = {}
    for _, t, argv in events:
        if argv and argv[0] == "submit":
            first.setdefault((unit_id(argv[1]), argv[2]), t)
    return first


def run_simulate(events_path, date_from="2020-05-01", date_to="2021-01-01"):
    cmd = [KAOHED, "-c", CONFIG, "simulate", "--from", date_from,
           "--to", date_to, "--events", events_path]
    return cmd, subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT)


def ded_occurrence(obj):
    return obj.get("occurrence") or obj.get("row")


def is_zero(points):
    return isinstance(points, (int, float)) and not isinstance(points, bool) \
        and abs(points) < TOL / 2


# ----------------------------------------------------------------- the year

class Year2020(unittest.TestCase):
    maxDiff = None
    longMessage = False   # print our diff-like message, not the repr of the list

    @classmethod
    def setUpClass(cls):
        with open(EXPECTED, encoding="utf-8") as f:
            cls.exp = json.load(f)
        cls.events = read_events(EVENTS)
        cls.cmd, proc = run_simulate(EVENTS, cls.exp["simulate"]["from"],
                                     cls.exp["simulate"]["to"])
        cls.rc = proc.returncode
        cls.stderr = proc.stderr.decode("utf-8", "replace")
        cls.objects = []
        cls.parse_errors = []
        for no, line in enumerate(proc.stdout.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                cls.parse_errors.append("stdout line %d: not JSON (%s): %.200s" % (no, e, line))
                continue
            if not isinstance(obj, dict):
                cls.parse_errors.append("stdout line %d: not a JSON object: %.200s" % (no, line))
                continue
            cls.objects.append(obj)

    def of_type(self, kind):
        return [o for o in self.objects if o.get("type") == kind]

    def test_00_exit_status(self):
        self.assertEqual(self.rc, 0, "%s exited %s; stderr:\n%s"
                         % (" ".join(self.cmd), self.rc, self.stderr[-4000:]))

    def test_01_json_lines(self):
        self.assertFalse(self.parse_errors, "\n".join(self.parse_errors[:20]))
        self.assertTrue(self.objects, "no output objects")
        bad = ["object %d lacks at/type: %.200s" % (i, json.dumps(o, ensure_ascii=False))
               for i, o in enumerate(self.objects) if "at" not in o or "type" not in o]
        self.assertFalse(bad, "\n".join(bad[:20]))

    def test_02_time_order(self):
        prev = None
        problems = []
        for i, o in enumerate(self.objects):
            try:
                t = parse_instant(o.get("at"))
            except ValueError as e:
                problems.append("object %d (%s): bad at: %s" % (i, o.get("type"), e))
                continue
            if prev is not None and t < prev[1]:
                problems.append("object %d (%s) at %s precedes object %d at %s"
                                % (i, o.get("type"), fmt(t), prev[0], fmt(prev[1])))
            prev = (i, t)
        self.assertFalse(problems, "objects not in time order:\n" + "\n".join(problems[:20]))

    def test_03_snapshots(self):
        snaps = self.of_type("snapshot")
        want = [(s["period"], parse_instant(s["at"])) for s in self.exp["snapshots"]]
        got = []
        for s in snaps:
            try:
                got.append((s.get("period"), parse_instant(s.get("at"))))
            except ValueError:
                got.append((s.get("period"), s.get("at")))
        self.assertEqual(got, want, "snapshot objects (period, at):\n expected %s\n got      %s"
                         % ([(p, fmt(t)) for p, t in want], [(p, fmt(t)) for p, t in got]))

    def test_04_snapshot_scores(self):
        snaps = {s.get("period"): s for s in self.of_type("snapshot")}
        diffs = []
        for exp in self.exp["snapshots"]:
            got = snaps.get(exp["period"])
            if got is None:
                diffs.append("snapshot %s: absent" % exp["period"])
                continue
            diffs += compare_units(exp["period"], exp["units"], got.get("units"))
        self.assertFalse(diffs, "snapshot scores differ from expected.json "
                         "(%d differences):\n" % len(diffs) + "\n".join(diffs))

    def test_05_final_scores(self):
        self.assertTrue(self.objects, "no output")
        last = self.objects[-1]
        self.assertEqual(last.get("type"), "scores",
                         "the last object must be of type scores, got %.300s"
                         % json.dumps(last, ensure_ascii=False))
        self.assertEqual(len(self.of_type("scores")), 1, "expected exactly one scores object")
        self.assertEqual(parse_instant(last.get("at")), parse_instant(self.exp["scores"]["at"]),
                         "scores object at %r" % last.get("at"))
        diffs = compare_units("scores", self.exp["scores"]["units"], last.get("units"))
        self.assertFalse(diffs, "final scores differ from expected.json "
                         "(%d differences):\n" % len(diffs) + "\n".join(diffs))

    def test_06_expected_deductions(self):
        deds = self.of_type("deduction")
        problems = []
        for e in self.exp["deductions"]:
            if e["reason"] == "ranking":
                match = [d for d in deds if unit_id(d.get("unit")) == e["unit"]
                         and d.get("reason") == "ranking" and str(d.get("row")) == e["row"]]
                what = "%s row %s ranking" % (e["unit"], e["row"])
            else:
                match = [d for d in deds if unit_id(d.get("unit")) == e["unit"]
                         and ded_occurrence(d) == e["occurrence"] and d.get("reason") == e["reason"]]
                what = "%s %s %s" % (e["unit"], e["occurrence"], e["reason"])
            if len(match) != 1:
                problems.append("%-45s expected once at %s, found %d%s"
                                % (what, e["at"], len(match),
                                   "" if not match else ": at " + ", ".join(str(d.get("at")) for d in match)))
                continue
            d = match[0]
            try:
                at_ok = parse_instant(d.get("at")) == parse_instant(e["at"])
            except ValueError:
                at_ok = False
            if not at_ok:
                problems.append("%-45s expected at %s, got at %s" % (what, e["at"], d.get("at")))
            if "points" in e and e["reason"] in ("late", "ranking") and not num_eq(d.get("points"), e["points"]):
                problems.append("%-45s expected points %s, got %r" % (what, e["points"], d.get("points")))
        self.assertFalse(problems, "deductions differ from expected.json:\n" + "\n".join(problems))

    def test_07_no_unexpected_deductions(self):
        deds = self.of_type("deduction")
        problems = []
        if self.exp.get("deductions_complete"):
            known = {(e["unit"], e["occurrence"], e["reason"])
                     for e in self.exp["deductions"] if e["reason"] in ("late", "missing")}
            for d in deds:
                if d.get("reason") not in ("late", "missing") or is_zero(d.get("points")):
                    continue   # zero-point late entries (rows 7a, 16c) are allowed
                key = (unit_id(d.get("unit")), ded_occurrence(d), d.get("reason"))
                if key not in known:
                    problems.append("unexpected deduction: %s" % json.dumps(d, ensure_ascii=False))
        for a in self.exp["no_deductions"]:
            for d in deds:
                if unit_id(d.get("unit")) != a["unit"] or is_zero(d.get("points")):
                    continue
                if "reason" in a and d.get("reason") != a["reason"]:
                    continue
                if "occurrence" in a:
                    if d.get("reason") not in ("late", "missing") or ded_occurrence(d) != a["occurrence"]:
                        continue
                elif str(d.get("row")) != a["row"]:
                    continue
                problems.append("must not happen (%s): %s"
                                % (a.get("note", "see expected.json"), json.dumps(d, ensure_ascii=False)))
        self.assertFalse(problems, "\n".join(problems))

    def test_08_ranking_only_at_year_end(self):
        final = parse_instant(self.exp["scores"]["at"])
        ranking = [d for d in self.of_type("deduction") if d.get("reason") == "ranking"]
        self.assertTrue(ranking, "no ranking deductions at all")
        wrong = [d for d in ranking if parse_instant(d.get("at")) != final]
        self.assertFalse(wrong, "ranking deductions must be applied at %s only:\n%s"
                         % (fmt(final), "\n".join(json.dumps(d, ensure_ascii=False) for d in wrong)))
        # ... and before the Q4 snapshot: ranking is part of the Q4 snapshot
        idx_snap = [i for i, o in enumerate(self.objects)
                    if o.get("type") == "snapshot" and o.get("period") == "2020-Q4"]
        idx_rank = [i for i, o in enumerate(self.objects)
                    if o.get("type") == "deduction" and o.get("reason") == "ranking"]
        if idx_snap:
            self.assertLess(max(idx_rank), idx_snap[0],
                            "ranking deductions must come before the 2020-Q4 snapshot")

    def test_09_reminders_skip_submitted(self):
        first = first_submissions(self.events)
        reminders = self.of_type("reminder")
        problems = []
        for r in reminders:
            if "unit" not in r or r.get("unit") is None:
                continue   # a department office reminder
            try:
                at = parse_instant(r.get("at"))
            except ValueError as e:
                problems.append("reminder with bad at: %s" % e)
                continue
            uid = unit_id(r.get("unit"))
            occs = r.get("occurrences")
            if not isinstance(occs, list):
                problems.append("reminder without an occurrences list: %s" % json.dumps(r, ensure_ascii=False))
                continue
            for occ in occs:
                t = first.get((uid, occ))
                if t is not None and t < at:
                    problems.append("reminder at %s (%s) names %s %s, submitted at %s"
                                    % (r.get("at"), r.get("kind"), uid, occ, fmt(t)))
        self.assertFalse(problems, "%d reminders for already submitted occurrences:\n%s"
                         % (len(problems), "\n".join(problems[:40])))


# ----------------------------------------------------------------- bad events files

class BadEventsFile(unittest.TestCase):
    longMessage = False

    def run_bad(self, body, line_no):
        with tempfile.TemporaryDirectory(prefix="kaohe-bad-events-") as d:
            path = os.path.join(d, "events.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
            cmd, proc = run_simulate(path, "2020-05-01", "2020-06-01")
        err = proc.stderr.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 1, "%s: expected exit 1, got %s; stderr:\n%s"
                         % (" ".join(cmd), proc.returncode, err))
        self.assertTrue(err.strip(), "no message on stderr")
        pat = re.compile(r'(?i)(?:\bline\s*[:=#]?\s*|第\s*|:|"line"\s*:\s*)%d(?!\d)' % line_no)
        self.assertRegex(err, pat, "stderr does not name line %d:\n%s" % (line_no, err))

    def test_unknown_unit(self):
        self.run_bad("# a bad events file\n"
                     "2020-05-06T10:00:00+08:00 submit bayilu 7a\n"
                     "\n"
                     "2020-05-06T11:00:00+08:00 submit nosuchunit 7a\n", 4)

    def test_bad_timestamp(self):
        self.run_bad("# a bad events file\n"
                     "2020-05-06T10:00:00+08:00 submit bayilu 7a\n"
                     "2020-05-32T10:00:00+08:00 submit rixin 7a\n", 3)

    def test_unknown_command(self):
        self.run_bad("2020-05-06T10:00:00+08:00 submit bayilu 7a\n"
                     "# comment\n"
                     "\n"
                     "\n"
                     "2020-05-06T11:00:00+08:00 frobnicate bayilu 7a\n", 5)


def main():
    global KAOHED, CONFIG
    positional = [a for a in sys.argv[1:] if not a.startswith("-")]
    if len(positional) >= 1:
        KAOHED = positional[0]
    if len(positional) >= 2:
        CONFIG = positional[1]
    for a in positional:
        sys.argv.remove(a)
    if not KAOHED:
        sys.stderr.write("usage: %s KAOHED [CONFIG]   (or env KAOHED, KAOHE_CONFIG)\n" % sys.argv[0])
        sys.exit(2)
    KAOHED = os.path.abspath(KAOHED) if os.sep in KAOHED else KAOHED
    CONFIG = os.path.abspath(CONFIG)
    unittest.main(argv=[sys.argv[0]], verbosity=2)


if __name__ == "__main__":
    main()
