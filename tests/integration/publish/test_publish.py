#!/usr/bin/python3
"""Integration tests of the publication: the annex pages (HTML in a real
browser), the CSV as Excel reads it, the JSON, index.html and the .ics feeds
(parsed with Debian's python3-icalendar), from `kaohed simulate --export`
over the 2020 year whose scores were worked out by hand, and from the running
daemon (`kaohectl report`, feeds after a move).

Usage:
    /usr/bin/python3 test_publish.py KAOHED KAOHECTL CONFIG_DIR [ARTIFACT_DIR]

The browser is Debian's chromium, headless. A screenshot of the 2020-Q4
page is saved in ARTIFACT_DIR (default: the working directory).
"""

import csv
import datetime as dt
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zoneinfo

import icalendar

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
import harness  # noqa: E402  (the integration tests' harness)
from harness import DaemonTestCase, iso, now_local, wait_until  # noqa: E402

KAOHED, KAOHECTL, CONFIG_DIR = harness.KAOHED, harness.KAOHECTL, harness.CONFIG_DIR
ARTIFACTS = os.path.abspath(sys.argv[4] if len(sys.argv) > 4 else os.getcwd())
YEAR2020 = os.path.join(REPO, "tests", "integration", "year2020")
with open(os.path.join(YEAR2020, "expected.json"), encoding="utf-8") as _f:
    EXPECTED = json.load(_f)
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
UNITS = ["bayilu", "renminguangchang", "baiyun", "rixin", "xianglujiao"]
NAMES = {"bayilu": "八一路", "renminguangchang": "人民广场", "baiyun": "白云",
         "rixin": "日新", "xianglujiao": "香炉礁"}
HOSTILE = '<script>alert("x")</script>, "八一路"'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def rb(path):
    with open(path, "rb") as f:
        return f.read()


def rt(path):
    return rb(path).decode("utf-8")


def simulate(conf, out_dir, events=os.path.join(YEAR2020, "events.txt")):
    sim = EXPECTED["simulate"]
    p = subprocess.run([KAOHED, "-c", conf, "simulate", "--from", sim["from"], "--to", sim["to"],
                        "--events", events, "--export", out_dir],
                       capture_output=True, timeout=300, env=harness.utf8_env())
    if p.returncode != 0:
        raise AssertionError("simulate: exit %d\n%s" % (p.returncode, p.stderr.decode()))
    return [json.loads(line) for line in p.stdout.decode().splitlines()]


def chromium(*args):
    prof = tempfile.mkdtemp(prefix="kaohe-chromium-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--no-first-run", "--user-data-dir=" + prof] + list(args),
                           capture_output=True, timeout=120)
        return p
    finally:
        shutil.rmtree(prof, ignore_errors=True)


class Tables(html.parser.HTMLParser):
    """Tables of a DOM by id: rows of (attributes, [cell texts])."""

    def __init__(self):
        super().__init__()
        self.tables, self.stack, self.row, self.cell = {}, [], None, None
        self.texts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.stack.append(a.get("id"))
            if a.get("id"):
                self.tables[a["id"]] = []
        elif tag == "tr" and self.stack and self.stack[-1]:
            self.row = (a, [])
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.stack:
            self.stack.pop()
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row[1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.stack[-1]].append(self.row)
            self.row = None

    def handle_data(self, data):
        self.texts.append(data)
        if self.cell is not None:
            self.cell.append(data)


def num(s):
    """'96.5' or '96.5[3]' (a footnote marker) -> 96.5."""
    m = re.match(r"^\s*(-?\d+(?:\.\d+)?)", s)
    return float(m.group(1)) if m else None


class TestExport(unittest.TestCase):
    """simulate --export over the hand-computed year."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kaohe-pub-")
        cls.out = os.path.join(cls.tmp, "export")
        cls.lines = simulate(os.path.join(CONFIG_DIR, "kaohe.conf"), cls.out)
        cls.snaps = {s["period"]: s for s in EXPECTED["snapshots"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_01_files(self):
        names = set(os.listdir(self.out))
        for period in ("2020-Q2", "2020-Q3", "2020-Q4"):
            for ext in ("html", "csv", "json"):
                self.assertIn("%s.%s" % (period, ext), names)
        self.assertIn("index.html", names)
        self.assertIn("all.ics", names)
        for u in UNITS:
            self.assertIn(u + ".ics", names)
        self.assertFalse([n for n in names if n.startswith(".") or n.endswith(".tmp")],
                         "no temporary file left behind: %s" % names)
        self.assertNotIn("2020-Q1.html", names, "the plan is in force from 05-01: no Q1")

    def test_02_json_matches_the_hand_worked_snapshots(self):
        simulated = {l["period"]: l for l in self.lines if l["type"] == "snapshot"}
        for period, want in self.snaps.items():
            got = json.loads(rt(os.path.join(self.out, period + ".json")))
            self.assertEqual(got["period"], period)
            self.assertFalse(got["provisional"])
            self.assertEqual(dt.datetime.fromisoformat(got["as_of"]),
                             dt.datetime.fromisoformat(want["at"]))
            by = {u["unit"]: u for u in got["units"]}
            for w in want["units"]:
                g = by[w["unit"]]
                for k in ("total", "basic", "key", "rank"):
                    self.assertAlmostEqual(g[k], w[k], 3, "%s %s %s" % (period, w["unit"], k))
                for row, v in w["rows"].items():
                    self.assertAlmostEqual(g["rows"][row], v, 3, (period, w["unit"], row))
            self.assertEqual(got["units"], simulated[period]["units"], "the same as simulate's")

    def test_03_csv_as_excel_reads_it(self):
        for period, want in self.snaps.items():
            raw = rb(os.path.join(self.out, period + ".csv"))
            self.assertTrue(raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM")
            self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "CRLF line ends")
            rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline=""),
                                   dialect="excel"))
            head = rows[0]
            self.assertEqual(head[:6], ["序号", "类别", "责任部门", "考核内容", "时间节点", "分值"])
            self.assertEqual(head[6:], [NAMES[u] for u in UNITS])
            self.assertTrue(all(len(r) == len(head) for r in rows), "rectangular")
            by_id = {r[0]: r for r in rows[1:] if r[0]}
            w = {u["unit"]: u for u in want["units"]}
            row_ids = list(w["bayilu"]["rows"])
            self.assertEqual(sorted(by_id), sorted(row_ids), "every row of the plan, once")
            for rid in row_ids:
                for i, u in enumerate(UNITS):
                    self.assertAlmostEqual(float(by_id[rid][6 + i]), w[u]["rows"][rid], 3,
                                           (period, rid, u))
            total = [r for r in rows if r[1] == "总分" or r[0] == "总分"]
            self.assertEqual(len(total), 1, rows[-4:])
            for i, u in enumerate(UNITS):
                self.assertAlmostEqual(float(total[0][6 + i]), w[u]["total"], 3)

    def test_04_html_in_a_browser(self):
        for period, want in self.snaps.items():
            page = os.path.join(self.out, period + ".html")
            text = rt(page)
            self.assertNotRegex(text, r"(?i)<script", "no JavaScript")
            self.assertNotRegex(text, r"(?i)(src|href)\s*=\s*[\"']?(https?:|//)", "no external asset")
            p = chromium("--dump-dom", "file://" + page)
            self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
            t = Tables()
            t.feed(p.stdout.decode("utf-8"))
            self.assertIn("ranking", t.tables)
            self.assertIn("annex", t.tables)
            ranking = [(a.get("data-unit"), cells) for a, cells in t.tables["ranking"]
                       if a.get("data-unit")]
            self.assertEqual(sorted(u for u, _ in ranking), sorted(UNITS), "all five streets")
            w = {u["unit"]: u for u in want["units"]}
            for u, cells in ranking:
                self.assertIn(NAMES[u], cells)
                self.assertIn(w[u]["total"], [num(c) for c in cells], (period, u, cells))
                self.assertEqual(num(cells[0]), w[u]["rank"], (period, u, cells))
            ranks = [num(c[0]) for _, c in ranking]
            self.assertEqual(ranks, sorted(ranks), "in rank order")
            annex = t.tables["annex"]
            head = [cells for _, cells in annex if "考核内容" in cells][0]
            self.assertEqual(head[-5:], [NAMES[u] for u in UNITS])
            body = {cells[0]: cells for _, cells in annex if cells and cells[0] in w["bayilu"]["rows"]}
            self.assertEqual(len(body), len(w["bayilu"]["rows"]))
            for rid, cells in body.items():
                for i, u in enumerate(UNITS):
                    self.assertAlmostEqual(num(cells[len(cells) - 5 + i]), w[u]["rows"][rid], 3,
                                           (period, rid, u, cells))
        shot = os.path.join(ARTIFACTS, "publication-2020-Q4.png")
        p = chromium("--window-size=1400,1800", "--screenshot=" + shot,
                     "file://" + os.path.join(self.out, "2020-Q4.html"))
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(shot), 20000)
        print("\nscreenshot: %s" % shot, file=sys.stderr)

    def test_05_lost_points_are_explained(self):
        text = rt(os.path.join(self.out, "2020-Q4.html"))
        lost = re.findall(r'class="[^"]*lost[^"]*"[^>]*title="([^"]*)"|title="([^"]*)"[^>]*class="[^"]*lost',
                          text)
        self.assertTrue(lost, "cells with lost points carry a title")
        self.assertIn("footnotes", text)
        # every unit that lost a point in row 1 has a reason naming a deduction
        titles = " ".join(a or b for a, b in lost)
        self.assertRegex(titles, r"逾期报送|未报送")

    def test_06_index(self):
        text = rt(os.path.join(self.out, "index.html"))
        order = [m.group(1) for m in re.finditer(r'href="(2020-Q\d)\.html"', text)]
        self.assertEqual(order[:3], ["2020-Q4", "2020-Q3", "2020-Q2"], "newest first")
        for period in ("2020-Q2", "2020-Q3", "2020-Q4"):
            for ext in ("csv", "json"):
                self.assertIn('href="%s.%s"' % (period, ext), text)
        self.assertIn('href="all.ics"', text)
        for u in UNITS:
            self.assertIn('href="%s.ics"' % u, text)

    def test_07_feeds(self):
        raw = rb(os.path.join(self.out, "all.ics"))
        lines = raw.split(b"\r\n")
        self.assertEqual(lines[-1], b"", "ends with CRLF")
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "CRLF only")
        for l in lines:
            self.assertLessEqual(len(l), 75, l)
            l.decode("utf-8")   # no character split by a fold
        cal = icalendar.Calendar.from_ical(raw)
        events = [c for c in cal.walk("VEVENT")]
        # 38 occurrences: the deadlines of gen_plan's table plus the record nodes
        sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
        import gen_plan
        deadlines = {("%s@2020-%s" % (r, d) if len(ds) > 1 else r): d
                     for r, ds in gen_plan.DEADLINES.items() for d in ds}
        # the events move 16a for every unit (the feeds show the schedules
        # as the year ended); rixin's own move of 4@2020-06-20 is in its feed
        deadlines["16a"] = "07-31"
        uids = [str(e["UID"]) for e in events]
        self.assertEqual(len(uids), len(set(uids)), "unique UIDs")
        by_occ = {}
        for e in events:
            self.assertIn("DTSTAMP", e)
            self.assertIn("SUMMARY", e)
            self.assertIn("DESCRIPTION", e)
            by_occ[str(e["UID"]).split("@")[0].replace(".2020-", "@2020-")] = e
        for occ, day in deadlines.items():
            self.assertIn(occ, by_occ, "a VEVENT for %s" % occ)
            e = by_occ[occ]
            self.assertEqual(e.decoded("DTSTART"), dt.date(2020, int(day[:2]), int(day[3:])), occ)
        self.assertEqual(len(events), 38)
        # row 1 (due Tuesday 09-15): -7d 09-08, -3d Saturday 09-12 -> Friday 09-11,
        # -1d 09-14, due 09-15, overdue 09-16; all at 09:00 local
        e = by_occ["1"]
        self.assertIn("打造“红色物业”示范项目", str(e["SUMMARY"]))
        self.assertRegex(str(e["SUMMARY"]), r"扣\d")
        trig = sorted(a.decoded("TRIGGER").astimezone(TZ) for a in e.walk("VALARM"))
        want = [dt.datetime(2020, 9, d, 9, 0, tzinfo=TZ) for d in (8, 11, 14, 15, 16)]
        self.assertEqual(trig[:5], want)
        for t in trig:
            self.assertEqual((t.hour, t.minute), (9, 0))
            self.assertLess(t, dt.datetime(2020, 10, 1, tzinfo=TZ), "none at or after close")
        # a unit's feed: the same occurrences under the unit's own UIDs
        unit = icalendar.Calendar.from_ical(rb(os.path.join(self.out, "bayilu.ics")))
        uev = list(unit.walk("VEVENT"))
        self.assertEqual(len(uev), 38)
        self.assertTrue(all("bayilu" in str(e["UID"]) for e in uev))
        self.assertIn("八一路", str(unit.get("X-WR-CALNAME")))
        rixin = icalendar.Calendar.from_ical(rb(os.path.join(self.out, "rixin.ics")))
        moved = [e for e in rixin.walk("VEVENT") if str(e["UID"]).startswith("4.2020-06-20@")]
        self.assertEqual(len(moved), 1)
        self.assertEqual(moved[0].decoded("DTSTART"), dt.date(2020, 7, 10), "rixin's own move")
        self.assertEqual([e.decoded("DTSTART") for e in uev if str(e["UID"]).startswith("4.2020-06-20@")],
                         [dt.date(2020, 6, 20)], "not bayilu's")

    def test_08_hostile_unit_name_escaped_everywhere(self):
        tmp = tempfile.mkdtemp(prefix="kaohe-pub-hostile-", dir=self.tmp)
        plan = rt(os.path.join(CONFIG_DIR, "plan-2020.conf"))
        lib = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
        plan = plan.replace('name = "八一路";', 'name = "%s";' % lib, 1)
        with open(os.path.join(tmp, "plan-2020.conf"), "w", encoding="utf-8") as f:
            f.write(plan)
        shutil.copy(os.path.join(CONFIG_DIR, "kaohe.conf"), tmp)
        os.symlink(os.path.join(CONFIG_DIR, "calendars"), os.path.join(tmp, "calendars"))
        out = os.path.join(tmp, "export")
        simulate(os.path.join(tmp, "kaohe.conf"), out)
        for name in os.listdir(out):
            raw = rb(os.path.join(out, name)).decode("utf-8")
            if name.endswith(".html"):
                self.assertNotIn("<script", raw.lower(), name)
                if name != "index.html":
                    self.assertIn("&lt;script&gt;", raw, name)
        got = json.loads(rt(os.path.join(out, "2020-Q4.json")))
        self.assertIn(HOSTILE, [u["name"] for u in got["units"]])
        raw = rb(os.path.join(out, "2020-Q4.csv"))[3:].decode("utf-8")
        head = next(csv.reader(io.StringIO(raw, newline=""), dialect="excel"))
        self.assertIn(HOSTILE, head, "quotes and commas survive the CSV")
        cal = icalendar.Calendar.from_ical(rb(os.path.join(out, "bayilu.ics")))
        self.assertIn("script", str(cal.get("X-WR-CALNAME")))
        p = chromium("--dump-dom", "file://" + os.path.join(out, "2020-Q4.html"))
        t = Tables()
        t.feed(p.stdout.decode("utf-8"))
        names = [cells[1] for a, cells in t.tables["ranking"] if a.get("data-unit")]
        self.assertIn(HOSTILE, names, "shown as text, not run")


class TestDaemon(DaemonTestCase):
    """The running daemon publishes at start, after a move, and answers report."""

    def test_09_daemon_publishes_and_reports(self):
        # tracked from January: the quarters already past are caught up
        conf = self.temp_plan(due1_in=600, due2_in=1200, track_from="01-01")
        d = self.daemon(conf)
        export = os.path.join(self.tmp, "export")
        wait_until(lambda: os.path.exists(os.path.join(export, "ua.ics")) and
                   os.path.exists(os.path.join(export, "index.html")), 20,
                   what="the publisher at start; log:\n" + d.log()[-2000:])

        def dtstart(unit):
            cal = icalendar.Calendar.from_ical(rb(os.path.join(export, unit + ".ics")))
            return {str(e["UID"]).split("@")[0]: e.decoded("DTSTART") for e in cal.walk("VEVENT")}
        d.wait_log(r"publish: .* written")
        before = dtstart("ua")
        self.assertEqual(before["1"].astimezone(TZ), self.due1)
        untouched = {n: os.stat(os.path.join(export, n)).st_mtime_ns for n in ("ub.ics", "all.ics")}
        new = self.due1 + dt.timedelta(days=2)
        self.ok("move", "1", iso(new), "--unit", "ua", "--reason", "延期")
        wait_until(lambda: dtstart("ua")["1"].astimezone(TZ) == new, 20,
                   what="ua.ics after the move")
        d.wait_log(r"publish: .* written", count=2)
        self.assertEqual(dtstart("ub")["1"].astimezone(TZ), self.due1, "ub keeps its due")
        self.assertEqual({n: os.stat(os.path.join(export, n)).st_mtime_ns for n in untouched},
                         untouched, "a move of ua's schedule rewrites ua's feed only")

        # Files edited but not reloaded are not what the daemon runs: the
        # publisher (which reads them again) refuses them until a reload.
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text.replace('content = "报送材料一"', 'content = "改过的材料一"'))
        self.ok("move", "1", iso(new + dt.timedelta(days=1)), "--unit", "ua", "--reason", "再延")
        d.wait_log(r"publish: .*changed since kaohed last loaded them")
        self.assertEqual(dtstart("ua")["1"].astimezone(TZ), new, "nothing published meanwhile")
        self.assertNotIn("改过的材料一", rt(os.path.join(export, "ua.ics")).replace("\r\n ", ""))
        self.ok("reload")
        wait_until(lambda: "改过的材料一" in rt(os.path.join(export, "ua.ics")).replace("\r\n ", ""),
                   20, what="the feeds after the reload")
        self.assertEqual(dtstart("ua")["1"].astimezone(TZ), new + dt.timedelta(days=1))

        # the quarters already past were caught up: their pages are there
        q = (now_local().month - 1) // 3
        year = now_local().year
        for i in range(1, q + 1):
            self.assertTrue(os.path.exists(os.path.join(export, "%d-Q%d.html" % (year, i))))
        cur = "%d-Q%d" % (year, q + 1)
        rep = self.ok("report", cur, "--format", "json")
        self.assertTrue(rep["provisional"])
        doc = json.loads(rep["content"])
        self.assertEqual(doc["period"], cur)
        self.assertTrue(doc["provisional"])
        self.assertEqual(sorted(u["unit"] for u in doc["units"]), ["ua", "ub"])
        html_out = self.ctl("report", cur, json_out=False)
        self.assertEqual(html_out.returncode, 0)
        text = html_out.stdout.decode("utf-8")
        self.assertTrue(text.startswith("<!DOCTYPE html>"), text[:80])
        self.assertIn("临时", text, "marked provisional")
        csv_out = self.ctl("report", cur, "--format", "csv", json_out=False).stdout
        self.assertTrue(csv_out.startswith(b"\xef\xbb\xbf"))
        if q >= 1:
            past = self.ok("report", "%d-Q%d" % (year, q), "--format", "json")
            self.assertFalse(past["provisional"])
        err = self.refused("unknown-period", "report", "1999-Q1")
        self.assertIn("%d-Q1" % year, err["message"], "the plan's periods are listed")
        self.refused("usage", "report", cur, "--format", "pdf")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
