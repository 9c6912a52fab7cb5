#!/usr/bin/python3
"""Integration tests of the publication: the annex pages (HTML in a real
browser at 1280 and 390 px, and printed to PDF), the CSV as Excel reads it,
the JSON, index.html and the .ics feeds (parsed with Debian's
python3-icalendar), from `kaohed simulate --export` over the 2020 year whose
scores were worked out by hand, and from the running daemon (`kaohectl
report`, feeds after a move).

Usage:
    /usr/bin/python3 test_publish.py KAOHED KAOHECTL CONFIG_DIR [ARTIFACT_DIR]

The browser is Debian's chromium, headless; the PDF is read with
poppler-utils (pdfinfo, pdftotext, pdftoppm). Screenshots of the 2020-Q4
page (1280 px, 390 px, 390 px with the annex scrolled) and its PDF are saved
in ARTIFACT_DIR (default: the working directory).
"""

import csv
import datetime as dt
import html
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import struct
import unittest
import zoneinfo

import icalendar

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
import harness  # noqa: E402  (the integration tests' harness)
from harness import DaemonTestCase, iso, now_local, temp_config, wait_until  # noqa: E402

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


# What the layout of a page is, asked of the browser.  Headless chromium
# lays out no window narrower than 500 px, so the page is shown in an iframe
# of the width wanted (a phone's 390 px) inside a wrapper page; the published
# page itself holds no script.  The wrapper's script reads the frame's layout
# when the frame has loaded, before --dump-dom, and leaves its findings on
# its root element.  SCROLL leaves the annex scrolled to its last column,
# the table in view, for a screenshot.
PROBE = r"""<script>
function probe(frame, scroll) {
  var w = frame.contentWindow, d = frame.contentDocument, out = {viewport: w.innerWidth};
  function px(el, box) { var r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    return {left: r.left - b.left, right: r.right - b.left}; }
  var table = d.getElementById('annex');
  if (table) {
    var box = table.parentElement, seq = table.querySelector('tbody td.seq'),
        con = table.querySelector('tbody td.content'), units = table.querySelectorAll('thead th[data-unit]'),
        last = units[units.length - 1], det = table.querySelectorAll('details');
    out.heads = Array.prototype.map.call(table.querySelectorAll('thead th'), function (t) { return t.textContent; });
    out.position = [w.getComputedStyle(seq).position, w.getComputedStyle(con).position];
    out.background = w.getComputedStyle(con).backgroundColor;
    out.overflow = w.getComputedStyle(box).overflowX;
    out.scrollWidth = box.scrollWidth; out.clientWidth = box.clientWidth;
    out.before = {seq: px(seq, box), con: px(con, box), last: px(last, box)};
    box.scrollLeft = box.scrollWidth;
    out.scrolled = box.scrollLeft;
    out.after = {seq: px(seq, box), con: px(con, box), last: px(last, box)};
    if (scroll) w.scrollTo(0, table.getBoundingClientRect().top + w.scrollY - 8);
    else box.scrollLeft = 0;
    out.details = det.length;
    out.open = Array.prototype.filter.call(det, function (e) { return e.open; }).length;
    out.summaryHeight = det.length ? det[0].getBoundingClientRect().height : 0;
  }
  var feeds = d.querySelector('ul.feeds');
  if (feeds) {
    var li = feeds.querySelector('li'), fs = w.getComputedStyle(feeds);
    out.feeds = {display: fs.display, item: w.getComputedStyle(li).display,
                 bullet: w.getComputedStyle(li).listStyleType,
                 padding: parseFloat(fs.paddingLeft), gap: parseFloat(fs.columnGap) || 0};
  }
  document.documentElement.setAttribute('data-probe', JSON.stringify(out));
}
</script>"""


def framed(page, width, height, scroll=False):
    """A wrapper page (in a temporary directory; the caller removes it)
    showing PAGE in a WIDTH x HEIGHT frame, probed when it has loaded."""
    d = tempfile.mkdtemp(prefix="kaohe-frame-")
    wrapper = os.path.join(d, "frame.html")
    with open(wrapper, "w", encoding="utf-8") as f:
        f.write('<!DOCTYPE html><html><head><meta charset="utf-8">'
                '<style>html,body{margin:0}iframe{border:0;display:block}</style>'
                + PROBE + '</head><body><iframe style="width:%dpx;height:%dpx" '
                'onload="probe(this, %s)" srcdoc="%s"></iframe></body></html>'
                % (width, height, "true" if scroll else "false", html.escape(rt(page), quote=True)))
    return d, wrapper


def probe(page, width, height=1000):
    """What the browser lays out for PAGE in a frame WIDTH px wide (see PROBE)."""
    d, wrapper = framed(page, width, height)
    try:
        p = chromium("--window-size=%d,%d" % (max(width, 500), height), "--dump-dom",
                     "file://" + wrapper)
        if p.returncode != 0:
            raise AssertionError(p.stderr.decode()[-2000:])
        m = re.search(r'data-probe="([^"]*)"', p.stdout.decode("utf-8"))
        if not m:
            raise AssertionError("the probe did not run: " + p.stdout.decode()[:500])
        return json.loads(html.unescape(m.group(1)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def screenshot(page, width, height, out, scroll=False):
    """A PNG of PAGE in a WIDTH x HEIGHT frame; its size from the PNG header."""
    d, wrapper = framed(page, width, height, scroll)
    try:
        p = chromium("--hide-scrollbars", "--window-size=%d,%d" % (width, height),
                     "--screenshot=" + out, "file://" + wrapper)
        if p.returncode != 0:
            raise AssertionError(p.stderr.decode()[-2000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    with open(out, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("%s is no PNG" % out)
    return struct.unpack(">II", head[16:24])


def pgm(path):
    """A binary PGM (P5, 8 bits) as (width, height, bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
    if not m:
        raise AssertionError("%s is no 8-bit PGM" % path)
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h]


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
        cls.root = os.path.join(cls.tmp, "export")
        cls.lines = simulate(os.path.join(CONFIG_DIR, "kaohe.conf"), cls.root)
        cls.out = os.path.join(cls.root, "2020")
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
        self.assertEqual(sorted(os.listdir(self.root)), ["2020", "index.html"])
        index = rt(os.path.join(self.root, "index.html"))
        self.assertIn('<a href="2020/index.html">2020年度</a>', index)
        self.assertNotIn("<script", index.lower())
        self.assertIn('<a href="../index.html">全部年度</a>', rt(os.path.join(self.out, "index.html")))

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
            self.assertEqual(head[:8], ["序号", "类别", "责任部门", "考核内容", "时间节点",
                                        "工作标准", "评分办法", "分值"])
            self.assertEqual(head[8:], [NAMES[u] for u in UNITS])
            self.assertTrue(all(len(r) == len(head) for r in rows), "rectangular")
            by_id = {r[0]: r for r in rows[1:] if r[0]}
            w = {u["unit"]: u for u in want["units"]}
            row_ids = list(w["bayilu"]["rows"])
            self.assertEqual(sorted(by_id), sorted(row_ids), "every row of the plan, once")
            for rid in row_ids:
                for i, u in enumerate(UNITS):
                    self.assertAlmostEqual(float(by_id[rid][8 + i]), w[u]["rows"][rid], 3,
                                           (period, rid, u))
            # the seed's texts, whole: row 1's work standard and scoring
            self.assertTrue(by_id["1"][5].startswith("开展“红色物业”组建工作"), by_id["1"][5])
            self.assertTrue(by_id["1"][5].endswith("报送工作落实情况及相关图片证明。（满分3分）"))
            self.assertEqual(by_id["1"][6], "9月15日前报送不扣分，9月15日后报送扣2分，未报送扣3分。")
            self.assertTrue(all(by_id[r][5] for r in row_ids), "every row has its 工作标准")
            total = [r for r in rows if r[1] == "总分" or r[0] == "总分"]
            self.assertEqual(len(total), 1, rows[-4:])
            for i, u in enumerate(UNITS):
                self.assertAlmostEqual(float(total[0][8 + i]), w[u]["total"], 3)

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
            self.assertEqual(head[:8], ["序号", "类别", "责任部门", "考核内容", "时间节点",
                                        "工作标准", "评分办法", "分值"])
            self.assertEqual(head[-5:], [NAMES[u] for u in UNITS])
            body = {cells[0]: cells for _, cells in annex if cells and cells[0] in w["bayilu"]["rows"]}
            self.assertEqual(len(body), len(w["bayilu"]["rows"]))
            for rid, cells in body.items():
                for i, u in enumerate(UNITS):
                    self.assertAlmostEqual(num(cells[len(cells) - 5 + i]), w[u]["rows"][rid], 3,
                                           (period, rid, u, cells))

    def test_04b_layout_desktop_and_phone(self):
        """At 1280 px the annex fits; at 390 px the street columns scroll under
        序号 and 考核内容, which stay in view; the long texts are collapsed."""
        page = os.path.join(self.out, "2020-Q4.html")
        wide = probe(page, 1280)
        self.assertEqual(wide["viewport"], 1280)
        self.assertIn("工作标准", wide["heads"])
        self.assertIn("评分办法", wide["heads"])
        self.assertLessEqual(wide["scrollWidth"], wide["clientWidth"] + 1,
                             "at 1280 px the whole annex is in view")
        self.assertGreaterEqual(wide["details"], 28, "工作标准 and 评分办法 collapsible")
        self.assertEqual(wide["open"], 0, "collapsed by default")
        self.assertLess(wide["summaryHeight"], 80, "a collapsed text takes a few lines")

        phone = probe(page, 390)
        self.assertEqual(phone["viewport"], 390)
        self.assertEqual(phone["position"], ["sticky", "sticky"])
        self.assertEqual(phone["overflow"], "auto")
        self.assertNotIn(phone["background"], ("rgba(0, 0, 0, 0)", "transparent"),
                         "a sticky cell hides what scrolls under it")
        self.assertGreater(phone["scrollWidth"], phone["clientWidth"] + 200,
                           "on a phone the annex scrolls sideways")
        self.assertGreater(phone["scrolled"], 200)
        b, a = phone["before"], phone["after"]
        self.assertLess(abs(a["seq"]["left"]), 2, "序号 stays at the left edge: %s" % a)
        self.assertLess(abs(a["con"]["left"] - a["seq"]["right"]), 2,
                        "考核内容 stays right of 序号: %s" % a)
        self.assertLess(a["con"]["right"], 0.6 * phone["clientWidth"],
                        "the first columns leave room for the streets: %s" % a)
        self.assertLess(a["last"]["left"], b["last"]["left"] - 200, "the streets scrolled")
        self.assertGreaterEqual(a["last"]["left"], a["con"]["right"] - 1,
                                "the last street is not under the first columns")
        self.assertLessEqual(a["last"]["right"], phone["clientWidth"] + 1,
                             "and is in view")

        idx = probe(os.path.join(self.out, "index.html"), 1280)
        self.assertEqual(idx["feeds"]["display"], "block", "the feeds are a list, not a row of boxes")
        self.assertEqual(idx["feeds"]["item"], "list-item")
        self.assertEqual(idx["feeds"]["bullet"], "disc")
        self.assertGreaterEqual(idx["feeds"]["padding"], 16, "room for the bullets")
        self.assertGreaterEqual(idx["feeds"]["gap"], 24, "and for those of the next column")

    def test_04c_screenshots(self):
        page = os.path.join(self.out, "2020-Q4.html")
        shots = []
        for name, width, height, scroll in (("1280", 1280, 2000, False), ("390", 390, 1600, False),
                                            ("390-scrolled", 390, 900, True)):
            shot = os.path.join(ARTIFACTS, "publication-2020-Q4-%s.png" % name)
            self.assertEqual(screenshot(page, width, height, shot, scroll), (width, height))
            self.assertGreater(os.path.getsize(shot), 20000)
            shots.append(shot)
        print("\nscreenshots: %s" % " ".join(shots), file=sys.stderr)

    def test_04d_print_a4_landscape(self):
        """The page printed: A4 landscape, a few pages, the long texts whole,
        nothing past the right margin."""
        pdf = os.path.join(ARTIFACTS, "publication-2020-Q4.pdf")
        p = chromium("--no-pdf-header-footer", "--print-to-pdf=" + pdf,
                     "file://" + os.path.join(self.out, "2020-Q4.html"))
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        info = subprocess.run(["pdfinfo", pdf], capture_output=True, check=True).stdout.decode()
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
        w, h = map(float, re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M).groups())
        self.assertAlmostEqual(w, 841.89, delta=2, msg="A4 landscape: %s" % info)
        self.assertAlmostEqual(h, 595.28, delta=2, msg="A4 landscape: %s" % info)
        self.assertTrue(3 <= pages <= 12, "%d pages" % pages)

        text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True,
                              check=True).stdout.decode("utf-8")
        flat = re.sub(r"\s+", "", text)
        for word in ("工作标准", "评分办法", "香炉礁", "基本工作小计"):
            self.assertIn(word, flat)
        # collapsed on screen, whole on paper: the end of row 1's 工作标准 and
        # of row 2c's 评分办法, past their excerpts
        self.assertIn("报送工作落实情况及相关图片证明。（满分3分）", flat)
        self.assertIn("发现业主委员会到期未组织换届，或者换届不成功社区未代行业主委员会职责的，发现一个扣1分。",
                      flat)
        self.assertNotIn("收起", flat)

        # every word within the page less its 10 mm margin
        bbox = subprocess.run(["pdftotext", "-bbox", pdf, "-"], capture_output=True,
                              check=True).stdout.decode("utf-8")
        right = max(float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox))
        self.assertLessEqual(right, w - 28.35 + 1, "a word past the right margin")
        # and on every page rendered, the right margin blank, the table reaching it
        d = tempfile.mkdtemp(prefix="kaohe-pdf-", dir=self.tmp)
        subprocess.run(["pdftoppm", "-r", "40", "-gray", pdf, os.path.join(d, "p")], check=True)
        names = sorted(n for n in os.listdir(d) if n.endswith(".pgm"))
        self.assertEqual(len(names), pages)
        reach = 0
        for n in names:
            pw, ph, px = pgm(os.path.join(d, n))
            margin = int(10 / 25.4 * 40) - 2
            for y in range(ph):
                row = px[y * pw:(y + 1) * pw]
                self.assertGreaterEqual(min(row[pw - margin:]), 240, "%s: ink in the right margin" % n)
                dark = [x for x in range(pw) if row[x] < 200]
                if dark:
                    reach = max(reach, dark[-1])
        self.assertGreater(reach, pw - margin - 8, "the annex spans the page's width")
        print("\npdf: %s (%d pages)" % (pdf, pages), file=sys.stderr)

    def test_05_lost_points_are_explained(self):
        text = rt(os.path.join(self.out, "2020-Q4.html"))
        lost = re.findall(r'class="[^"]*lost[^"]*"[^>]*title="([^"]*)"|title="([^"]*)"[^>]*class="[^"]*lost',
                          text)
        self.assertTrue(lost, "cells with lost points carry a title")
        self.assertIn("footnotes", text)
        # every unit that lost a point in row 1 has a reason naming a deduction
        titles = " ".join(a or b for a, b in lost)
        self.assertRegex(titles, r"逾期报送|未报送")
        # in Chinese: the day a deduction came, and the footnote names its row
        self.assertRegex(titles, r"2020年\d+月\d+日 (逾期报送|未报送)")
        self.assertRegex(text, r'<li id="fn-1">\[1\] 第\w+项 ')

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
        # the periods in Chinese, the snapshot as of the period's end
        for period, zh, end in (("2020-Q4", "2020年第四季度", "2020年12月31日24时"),
                                ("2020-Q3", "2020年第三季度", "2020年9月30日24时"),
                                ("2020-Q2", "2020年第二季度", "2020年6月30日24时")):
            row = re.search(r'<tr data-period="%s">(.*?)</tr>' % period, text).group(1)
            self.assertIn(">%s</a>" % zh, row)
            self.assertIn("<td>%s</td>" % end, row)
            want = [u for u in self.snaps[period]["units"] if u["rank"] == 1]
            first = re.search(r'<td class="first">(.*?)</td>', row).group(1)
            if len(want) == 1:
                self.assertEqual(first, NAMES[want[0]["unit"]])
            else:
                self.assertIn("等%d个单位并列第一" % len(want), first)
        self.assertNotIn("生成时间", text)

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
        self.assertTrue(all(re.fullmatch(r"[0-9a-z.-]+@2020\.kaohe", u) for u in uids), uids)
        self.assertEqual(str(cal.get("X-WR-CALNAME")), "西岗区2020年街道办事处居住小区管理工作考核方案")
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
        # -1d 09-14, due 09-15; all at 09:00 local.  The overdue notices go to the
        # units that have not submitted, which a calendar cannot know: no alarm.
        e = by_occ["1"]
        self.assertIn("打造“红色物业”示范项目", str(e["SUMMARY"]))
        self.assertRegex(str(e["SUMMARY"]), r"扣\d")
        trig = sorted(a.decoded("TRIGGER").astimezone(TZ) for a in e.walk("VALARM"))
        want = [dt.datetime(2020, 9, d, 9, 0, tzinfo=TZ) for d in (8, 11, 14, 15)]
        self.assertEqual(trig, want)
        for ev in events:
            for a in ev.walk("VALARM"):
                t = a.decoded("TRIGGER").astimezone(TZ)
                self.assertEqual((t.hour, t.minute), (9, 0))
                self.assertLessEqual(t.date(), ev.decoded("DTSTART"), "none after the due day")
                self.assertEqual(str(a["ACTION"]), "DISPLAY")
                self.assertRegex(str(a["DESCRIPTION"]), r"^(提前|当日)提醒：【第")
        # what a liaison reads: until when, what it costs, to whom, what to submit
        d = str(e["DESCRIPTION"])
        self.assertTrue(d.startswith("请于2020年9月15日（含）前报送\n"
                                     "逾期报送扣2分；截至2020年9月30日24时仍未报送，扣3分\n"
                                     "考核单位：区住建局\n工作标准：开展“红色物业”组建工作"), d)
        self.assertLess(len(raw) / len(events), 1600, "about 1.3 KB per event")
        # a unit's feed: the same occurrences and UIDs; without a move of its
        # own it is all.ics itself (a hard link)
        unit = icalendar.Calendar.from_ical(rb(os.path.join(self.out, "bayilu.ics")))
        uev = list(unit.walk("VEVENT"))
        self.assertEqual(len(uev), 38)
        self.assertEqual(sorted(str(e["UID"]) for e in uev), sorted(uids))
        for u in UNITS:
            same = os.path.samefile(os.path.join(self.out, u + ".ics"),
                                    os.path.join(self.out, "all.ics"))
            self.assertEqual(same, u != "rixin", u)
        rixin = icalendar.Calendar.from_ical(rb(os.path.join(self.out, "rixin.ics")))
        moved = [e for e in rixin.walk("VEVENT") if str(e["UID"]).startswith("4.2020-06-20@")]
        self.assertEqual(len(moved), 1)
        self.assertEqual(moved[0].decoded("DTSTART"), dt.date(2020, 7, 10), "rixin's own move")
        self.assertIn("（已调整，原定2020年6月20日（含））", str(moved[0]["DESCRIPTION"]))
        trig = sorted(a.decoded("TRIGGER").astimezone(TZ) for a in moved[0].walk("VALARM"))
        self.assertEqual(trig[-1], dt.datetime(2020, 7, 10, 9, 0, tzinfo=TZ), "the alarms moved too")
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
        simulate(os.path.join(tmp, "kaohe.conf"), os.path.join(tmp, "export"))
        out = os.path.join(tmp, "export", "2020")
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
        # a feed names no unit: the hostile name is in none
        for name in os.listdir(out):
            if name.endswith(".ics"):
                self.assertNotIn("script", rt(os.path.join(out, name)), name)
        icalendar.Calendar.from_ical(rb(os.path.join(out, "bayilu.ics")))
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
        export = os.path.join(self.tmp, "export", str(now_local().year))
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


class TestYears(DaemonTestCase):
    """Each configured plan year is published in a directory of its own."""

    def three_years(self):
        """Last year's plan (ua, ub; dues in March, tracked from January: its
        four quarters are caught up), this year's (uc, ua, ub: another order,
        so a unit's index differs from the other years'; row 1 due in 600 s,
        tracked from January) and next year's (ua, ub), as plans = [ … ]."""
        t = now_local()
        self.year = t.year
        path = os.path.join(self.tmp, "kaohe.conf")
        self.due1 = t + dt.timedelta(seconds=600)
        dues = {"1": iso(self.due1), "2": iso(t + dt.timedelta(seconds=1200))}
        this = temp_config(path, self.tmp, dues, units=("uc", "ua", "ub"), track_from="01-01")
        other = temp_config(path, self.tmp, {"1": "03-16", "2": "03-17"}, track_from="01-01")
        head, plan = this.split("\nplan: {", 1)
        # this year's access rules name uc, ua and ub: every unit of any plan
        head = head.replace("calendar: { holidays = [ ]; workdays = [ ]; };\n", "")
        cal = "plan: {\n  calendar = { holidays = [ ]; workdays = [ ]; };"
        other = cal + other.split("\nplan: {", 1)[1]
        plans = {t.year: cal + plan,
                 t.year - 1: other.replace("year = %d;" % t.year, "year = %d;" % (t.year - 1), 1),
                 t.year + 1: other.replace("year = %d;" % t.year, "year = %d;" % (t.year + 1), 1)}
        for y, p in plans.items():
            with open(os.path.join(self.tmp, "plan-%d.conf" % y), "w", encoding="utf-8") as f:
                f.write(p)
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + "plans = [ %s ];\n" % ", ".join('"plan-%d.conf"' % y for y in sorted(plans)))
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        return path

    def test_10_years_apart(self):
        d = self.daemon(self.three_years())
        root = os.path.join(self.tmp, "export")
        last, this, nxt = (os.path.join(root, str(y)) for y in (self.year - 1, self.year, self.year + 1))
        wait_until(lambda: os.path.exists(os.path.join(root, "index.html")), 20,
                   what="the publisher at start; log:\n" + d.log()[-2000:])
        d.wait_log(r"publish: .* written")
        q = (now_local().month - 1) // 3
        self.assertEqual(sorted(n for n in os.listdir(last) if n.endswith(".json")),
                         ["%d-Q%d.json" % (self.year - 1, i) for i in range(1, 5)])
        self.assertEqual(sorted(n for n in os.listdir(this) if n.endswith(".json")),
                         ["%d-Q%d.json" % (self.year, i) for i in range(1, q + 1)])
        self.assertEqual([n for n in os.listdir(nxt) if n.endswith(".json")], [])
        self.assertIn("尚无考核结果", rt(os.path.join(nxt, "index.html")))
        # each year's pages are of its own plan and snapshots
        old = json.loads(rt(os.path.join(last, "%d-Q4.json" % (self.year - 1))))
        self.assertEqual((old["plan"]["year"], sorted(u["unit"] for u in old["units"])),
                         (self.year - 1, ["ua", "ub"]))
        self.assertEqual(sorted(n for n in os.listdir(this) if n.endswith(".ics")),
                         ["all.ics", "ua.ics", "ub.ics", "uc.ics"])
        self.assertNotIn("uc.ics", os.listdir(last))
        # the index across years: newest first, each year's index linked
        index = rt(os.path.join(root, "index.html"))
        links = re.findall(r'<a href="(\d{4})/index.html">(\d{4})年度</a>', index)
        self.assertEqual(links, [(str(y), str(y)) for y in (self.year + 1, self.year, self.year - 1)])
        self.assertNotIn("<script", index.lower())

        # a publication that changes nothing rewrites nothing
        def stamps():
            return {os.path.relpath(os.path.join(dp, n), root): os.stat(os.path.join(dp, n)).st_mtime_ns
                    for dp, _, names in os.walk(root) for n in names}
        before = stamps()
        published = len(re.findall(r"publish: .* written", d.log()))
        self.ok("reload")
        d.wait_log(r"publish: .* written", count=published + 1)
        self.assertEqual(stamps(), before)

        # a move of this year's ua (index 1 in its plan, ub's in the others)
        # rewrites this year's ua.ics alone
        new = self.due1 + dt.timedelta(days=2)
        self.ok("move", "1", iso(new), "--unit", "ua", "--reason", "延期")

        def dtstart(path):
            cal = icalendar.Calendar.from_ical(rb(path))
            return {str(e["UID"]).split("@")[0]: e.decoded("DTSTART") for e in cal.walk("VEVENT")}
        wait_until(lambda: dtstart(os.path.join(this, "ua.ics"))["1"].astimezone(TZ) == new, 20,
                   what="%d/ua.ics after the move; log:\n%s" % (self.year, d.log()[-2000:]))
        after = stamps()
        changed = sorted(n for n in after if after[n] != before.get(n))
        self.assertEqual(changed, [os.path.join(str(self.year), "ua.ics")])
        d.term()

    def test_11_by_hand_adopts_nothing(self):
        """kaohed publish by hand on a database that has not adopted some
        configured years (added to the configuration, the daemon not yet
        restarted or reloaded): they are published, and the database's
        meta (high-water marks, adoptions) is left as it was; the daemon's
        next start adopts them."""
        path = self.three_years()
        with open(path, encoding="utf-8") as f:
            three = f.read()
        names = ", ".join('"plan-%d.conf"' % y for y in (self.year - 1, self.year, self.year + 1))
        self.assertIn(names, three)
        with open(path, "w", encoding="utf-8") as f:
            f.write(three.replace(names, '"plan-%d.conf"' % self.year, 1))
        d = self.daemon(path)
        d.term()
        with open(path, "w", encoding="utf-8") as f:
            f.write(three)

        def held():
            return {t: harness.db_query(self.state, "SELECT * FROM %s ORDER BY 1" % t)
                    for t in ("meta", "entries", "snapshots", "audit", "outbox")}
        before = held()
        self.assertEqual(sorted(k for k, _ in before["meta"] if k.startswith(("hwm:", "adopted:"))),
                         ["adopted:%d" % self.year, "hwm:%d" % self.year])
        root = os.path.join(self.tmp, "export")
        shutil.rmtree(root, ignore_errors=True)
        for args in ([], ["--unit", "ua", "--unit-year", str(self.year + 1)]):
            r = subprocess.run([KAOHED, "-c", path, "publish"] + args, capture_output=True,
                               text=True, timeout=harness.WAIT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(held(), before, "publish %s recorded nothing" % args)
        for y in (self.year - 1, self.year, self.year + 1):
            self.assertTrue(os.path.exists(os.path.join(root, str(y), "index.html")), y)
        # last year, never adopted: no quarter of it taken, by the publication either
        self.assertEqual([n for n in os.listdir(os.path.join(root, str(self.year - 1)))
                          if n.endswith(".json")], [])
        # the daemon adopts them at its start
        d.start()
        keys = [k for (k,) in harness.db_query(self.state, "SELECT key FROM meta WHERE key"
                                               " LIKE 'adopted:%' ORDER BY key")]
        self.assertEqual(keys, ["adopted:%d" % y for y in (self.year - 1, self.year, self.year + 1)])
        d.term()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
