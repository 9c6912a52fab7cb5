#!/usr/bin/python3
"""kaohectl as its readers see it: every table of every command on the
shipped plan, with data, fits 80 columns by display width (a Chinese
character takes two); --wide shows everything; states read as words;
explain shows voided entries and when a catch-up wrote what it applied;
an empty answer says so; the exit codes; a refusal names what was
attempted; a unit member's bare status, an officer's report; --version.

Usage:
    /usr/bin/python3 test_kaohectl.py KAOHED KAOHECTL CONFIG_DIR
or with the environment variables KAOHED, KAOHECTL and KAOHE_CONFIG_DIR.

The tables run on the shipped configuration for last year (every deadline
of it past, so the first start catches all of it up), with a generic
webhook on a closed port of 127.0.0.1 (the admins' snapshot notice fails,
with an error to show), submissions, a finding and its void. The access
tests create temporary users and groups (root only) and run kaohectl as
them through setpriv, as the daemon's tests do.

Standard library only, and the harness beside (tests/integration/harness.py).
"""

import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (CONFIG_DIR, KAOHECTL, KAOHED, REPO, ROOT, TAG, WAIT,  # noqa: E402
                     DaemonTestCase, SystemAccounts, display_width, now_local, utf8_env)

LONG_NOTE = ("年度工作总结已按区住建局要求报送，附件包括业主委员会换届选举情况、"
             "物业服务企业考评结果和居民满意度调查报告，共计十二份材料")
LONG_REASON = ("录入错误：该问题属于物业服务企业自身责任，经区住建局复核后确认"
               "不应计入街道办事处的考核扣分，特此作废")
FINDING_NOTE = "居民投诉物业公司未按合同约定清运垃圾，经现场核实属实，已责令限期整改"


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(kaohe VERSION (\S+)", f.read()).group(1)


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ShippedPlan(DaemonTestCase):
    """The shipped configuration for last year, with a webhook that fails."""

    def start_shipped(self):
        conf_dir = os.path.join(self.tmp, "config")
        shutil.copytree(CONFIG_DIR, conf_dir)
        conf = os.path.join(conf_dir, "kaohe.conf")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        hook = ('  webhooks = ( { name = "archive"; type = "generic"; '
                'url = "http://127.0.0.1:%d/kaohe"; units = [ "*" ]; departments = [ "*" ]; '
                'admins = true; rate = [ ]; } );\n' % closed_port())
        marker = "  # Transfers at once, over every channel."
        self.assertIn(marker, text)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text.replace(marker, hook + marker, 1))
        # tracked from the plan's start: the first start catches up the year
        plan = os.path.join(conf_dir, "plan-2020.conf")
        with open(plan, encoding="utf-8") as f:
            text = f.read()
        self.assertIn('  # track_from = "05-01";', text)
        with open(plan, "w", encoding="utf-8") as f:
            f.write(text.replace('  # track_from = "05-01";', '  track_from = "05-01";', 1))
        self.year = now_local().year - 1
        self.sock = os.path.join(self.tmp, "ctl.sock")
        self.state = os.path.join(self.tmp, "state")
        self.daemon(conf, self.state, self.sock,
                    extra=["--year", str(self.year), "--export-dir",
                           os.path.join(self.tmp, "export")])

    def text(self, *args, wide=False, expect=0):
        """kaohectl ARGS as a person runs it: its table, checked to exit EXPECT."""
        r = self.ctl(*((["--wide"] if wide else []) + list(args)), json_out=False)
        out = r.stdout.decode("utf-8")
        self.assertEqual(r.returncode, expect, "kaohectl %s: %s %s"
                         % (" ".join(args), out, r.stderr.decode("utf-8", "replace")))
        return out


class TestTables(ShippedPlan):

    @classmethod
    def setUpClass(cls):
        cls.maxDiff = None

    def setUp(self):
        super().setUp()
        self.start_shipped()
        y = self.year
        self.sub = self.ok("submit", "bayilu", "2c", "--at", "%d-12-01" % y, "--note", LONG_NOTE)
        self.ok("submit", "人民广场", "1", "--at", "%d-09-14T10:30:00+08:00" % y)
        self.finding = self.ok("record", "baiyun", "6c", "pushback", "2", "--note", FINDING_NOTE)
        self.ok("void", str(self.finding["id"]), "--reason", LONG_REASON)
        self.ok("move", "18@%d-12-31" % y, "%d-12-30" % y, "--reason",
                "按区文明办通知提前完成全国文明城市创建工作的年度总结和材料报送")
        # the admins' notice of the snapshot fails against the closed port
        self.wait_outbox()

    def wait_outbox(self):
        from harness import wait_until
        return wait_until(lambda: [r for r in self.ok("outbox")["rows"] if r["error"]],
                          what="a failed delivery with its error")

    COMMANDS = (("status",), ("status", "八一路"), ("status", "bayilu"), ("upcoming",),
                ("upcoming", "3660"), ("scores",), ("explain", "bayilu"),
                ("explain", "白云", "6c"), ("explain", "renminguangchang", "1"), ("snapshots",),
                ("audit",), ("audit", "100"), ("plan",), ("outbox",), ("outbox", "failed"),
                ("outbox", "dead"), ("ping",))

    def test_every_table_fits_80_columns(self):
        for args in self.COMMANDS:
            with self.subTest(args=args):
                out = self.text(*args)
                lines = out.split("\n")
                self.assertEqual(lines[-1], "", "ends with a line break")
                self.assertGreater(len(lines), 1, "prints something")
                for line in lines:
                    self.assertLessEqual(display_width(line), 80, "%s:\n%s" % (args, line))
                    self.assertEqual(line, line.rstrip(), "no trailing spaces: %r" % line)
        # what did not fit was cut, with …
        for args in (("explain", "bayilu"), ("plan",), ("audit",)):
            self.assertIn("…", self.text(*args), args)
        # today these were 310 to 793 columns wide: the widest line of each is near 80 now
        for args in (("explain", "bayilu"), ("audit",), ("plan",)):
            self.assertGreaterEqual(max(display_width(l) for l in self.text(*args).split("\n")), 70)

    def test_wide_cuts_nothing(self):
        ex = self.ok("explain", "bayilu")
        wide = self.text("explain", "bayilu", wide=True)
        for r in ex["rows"]:
            for key in ("content", "standard", "scoring"):
                self.assertIn(r[key], wide, (r["row"], key))
            for e in r["entries"]:
                self.assertIn(e["at"], wide, "instants in full ISO-8601 with --wide")
                if "rule" in e:
                    self.assertIn(e["rule"], wide)
        self.assertIn(LONG_NOTE, wide)
        self.assertNotIn(LONG_NOTE, self.text("explain", "bayilu"))
        self.assertIn(LONG_REASON, self.text("explain", "白云", "6c", wide=True))
        plan = self.ok("plan")
        wide = self.text("plan", wide=True)
        for r in plan["rows"]:
            self.assertIn(r["content"], wide)
            self.assertIn(r["time_node"], wide)
        audit = self.ok("audit")
        wide = self.text("audit", wide=True)
        for a in audit:
            self.assertIn(a["command"], wide)
        out = self.ok("outbox")
        wide = self.text("outbox", wide=True)
        for r in out["rows"]:
            # (tried again meanwhile, it may fail after another number of ms)
            self.assertIn(r["error"].split(" after ")[0], wide)
            self.assertIn(r["about"], wide)
        self.assertGreater(max(display_width(l) for l in wide.split("\n")), 80)

    def test_states_read_as_words(self):
        st = self.ok("status", "bayilu")
        states = {o["occurrence"]: o["state"] for o in st["occurrences"]}
        self.assertEqual(states["2c"], "on-time", "--json keeps the identifiers")
        self.assertIn("missing", states.values())
        out = self.text("status", "bayilu")
        row = [l for l in out.split("\n") if l.split()[:1] == ["2c"]]
        self.assertEqual(len(row), 1, out)
        self.assertIn("on time", row[0])
        for args in self.COMMANDS:
            out = self.text(*args)
            self.assertNotIn("on-time", out, args)
            self.assertNotIn("not_submitted", out, args)
            # labels read as words too
            self.assertNotRegex(out, r"(?m)^\s*[a-z]+_[a-z_]+:", args)
        self.assertIn("state: on time",
                      self.text("submit", "rixin", "2c", "--at", "%d-12-02" % self.year))
        raw = self.ctl("status", "bayilu").stdout.decode()
        self.assertEqual(json.loads(raw)["data"]["occurrences"], st["occurrences"])

    def entry_block(self, out, entry_id):
        """The line of entry ENTRY_ID in an explain table, and the lines under it."""
        lines = out.split("\n")
        i = next(i for i, l in enumerate(lines) if l.split()[:1] == [str(entry_id)])
        indent = len(lines[i]) - len(lines[i].lstrip())
        block = [lines[i]]
        for l in lines[i + 1:]:
            if not l.strip() or len(l) - len(l.lstrip()) <= indent:
                break
            block.append(l.strip())
        return block

    def test_explain_shows_voided_and_catch_up(self):
        fid = self.finding["id"]
        out = self.text("explain", "白云", "6c")
        block = self.entry_block(out, fid)
        self.assertEqual(len(block), 2, block)
        m = re.match(r"voided (\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?) by (\S+): (.+)$", block[1])
        self.assertIsNotNone(m, block)
        self.assertEqual(m.group(1)[:10], now_local().date().isoformat())
        self.assertEqual(m.group(2), "root")
        self.assertTrue(LONG_REASON.startswith(m.group(3).rstrip("…")), m.group(3))
        # a catch-up's deduction: applies at last year's deadline, written today
        ex = self.ok("explain", "xianglujiao", "1")
        auto = [e for e in ex["rows"][0]["entries"] if e["by"] == "auto"]
        self.assertTrue(auto, ex)
        for e in auto:
            self.assertTrue(e["at"].startswith(str(self.year)), e)
            self.assertTrue(e["recorded_at"].startswith(now_local().date().isoformat()), e)
        out = self.text("explain", "xianglujiao", "1")
        for e in auto:
            block = self.entry_block(out, e["id"])
            self.assertIn(e["at"][:10], block[0])
            written = [l for l in block[1:] if l.startswith("written ")]
            self.assertEqual(len(written), 1, block)
            self.assertRegex(written[0], r"^written %s \d\d:\d\d(:\d\d)?, by a catch-up$"
                             % now_local().date().isoformat())
        # a submission backdated with --at: when it was written, too
        ex = self.ok("explain", "renminguangchang", "1")
        sub = [e for e in ex["rows"][0]["entries"] if e["type"] == "submission"][0]
        block = self.entry_block(self.text("explain", "renminguangchang", "1"), sub["id"])
        self.assertIn("%d-09-14 10:30" % self.year, block[0])
        self.assertRegex(block[1], r"^written %s " % now_local().date().isoformat())

    def test_instants_kept_whole_beside_long_texts(self):
        # the note gives way, the instant ("2026-12-01 00:00") does not
        out = self.text("explain", "bayilu", "2c")
        block = self.entry_block(out, self.sub["id"])
        self.assertIn("%d-12-01 00:00" % self.year, block[0], out)
        self.assertIn("…", block[0], "the long note is cut")

    def test_empty_answers_say_so(self):
        self.assertEqual(self.ok("upcoming")["occurrences"], [])
        self.assertIn("nothing falls due in these days", self.text("upcoming"))
        self.assertEqual(self.ok("status")["open"], [])
        self.assertIn("nothing is overdue", self.text("status"))
        self.assertEqual(self.ok("outbox", "dead")["rows"], [])
        self.assertIn("no deliveries", self.text("outbox", "dead"))

    def test_outbox_error_shown(self):
        row = self.wait_outbox()[0]
        # the delivery is tried again meanwhile: read what the table itself says
        out = self.text("outbox")
        lines = out.split("\n")
        i = next(i for i, l in enumerate(lines) if l.split()[:1] == [str(row["id"])])
        notes = []
        for l in lines[i + 1:]:
            if not l.startswith("      "):
                break
            notes.append(l.strip())
        self.assertTrue(notes and notes[0].startswith("error"), lines[i:i + 3])
        self.assertIn(row["error"][:20], notes[0])
        if lines[i].split()[1] == "failed":
            self.assertEqual(len(notes), 2, notes)
            self.assertRegex(notes[1], r"^next try \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?$")


class TestExitCodes(ShippedPlan):

    def test_usage_is_2_wherever_found(self):
        self.start_shipped()
        for args in (("frobnicate",), ("status", "bayilu", "extra"), ("submit", "bayilu"),
                     ("explain",), ("void", "1"), ("upcoming", "0"), ("audit", "x"),
                     ("submit", "bayilu", "2c", "--bogus", "x"), ("outbox", "nosuch")):
            with self.subTest(args=args):
                r = self.ctl(*args, json_out=False)
                self.assertEqual(r.returncode, 2, (args, r))
                self.assertRegex(r.stderr.decode(), r"^kaohectl: (usage|unknown-command): ")
                r = self.ctl(*args)
                self.assertEqual(r.returncode, 2, (args, r))
                self.assertFalse(json.loads(r.stdout)["ok"], "--json prints the answer as it came")
        for argv in ([], ["--json"], ["--wide"], ["--bogus", "ping"], ["-s"],
                     ["--json", "--wide", "ping"]):
            r = subprocess.run([KAOHECTL] + argv, capture_output=True, env=utf8_env(),
                               timeout=WAIT)
            self.assertEqual(r.returncode, 2, (argv, r))
            # every message names the program as kaohectl, never by its path
            self.assertRegex(r.stderr.decode(), r"^kaohectl: ", (argv, r))
        # refused or failed: 1
        for args, code in ((("explain", "nosuch"), "unknown-unit"),
                           (("void", "999999", "--reason", "x"), "not-found"),
                           (("report", "1999-Q1"), "unknown-period")):
            r = self.ctl(*args, json_out=False)
            self.assertEqual(r.returncode, 1, (args, r))
            self.assertIn(code, r.stderr.decode())
        # no daemon: 3
        self.assertEqual(self.ctl("ping", sock=os.path.join(self.tmp, "none.sock")).returncode, 3)

    def test_version(self):
        want = project_version()
        for prog, name in ((KAOHECTL, "kaohectl"), (KAOHED, "kaohed")):
            r = subprocess.run([prog, "--version"], capture_output=True, env=utf8_env(),
                               timeout=WAIT)
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual(r.stdout.decode(), "%s %s\n" % (name, want))
        help_ = subprocess.run([KAOHECTL, "--help"], capture_output=True, timeout=WAIT)
        self.assertIn("--version", help_.stdout.decode())
        self.assertIn("--wide", help_.stdout.decode())


class TestSuggested(DaemonTestCase):
    """What ./run and the README suggest running works, as root runs it."""

    def suggested(self):
        cmds = []
        for name in ("run", "README.md"):
            with open(os.path.join(REPO, name), encoding="utf-8") as f:
                for m in re.finditer(r"build/kaohectl -s state/control\.sock ([^\n]+)", f.read()):
                    cmds.append((name, m.group(1)))
        return cmds

    @unittest.skipUnless(ROOT, "the shipped access section's admin is root")
    def test_suggested_commands_work(self):
        self.shipped()
        cmds = self.suggested()
        self.assertGreaterEqual(len(cmds), 8, cmds)
        year = str(now_local().year)
        for name, line in cmds:
            words = shlex.split(line.replace("$year", year))
            if ">" in words:
                words = words[:words.index(">")]
            with self.subTest(where=name, command=words):
                r = self.ctl(*words, json_out=False)
                self.assertEqual(r.returncode, 0, r.stderr.decode())
                self.assertTrue(r.stdout.strip(), "prints something")

    def test_show_scores_aligns_by_display_width(self):
        line = json.dumps({"at": "2021-01-01T00:00:00+08:00", "type": "scores", "units": [
            {"unit": "bayilu", "name": "八一路", "total": 88.7, "basic": 74.2, "key": 14.5,
             "rank": 1},
            {"unit": "long", "name": "一个名称很长很长的街道办事处", "total": 8, "basic": 8,
             "key": 0, "rank": 2},
            {"unit": "x", "name": "Résumé", "total": 100, "basic": 80, "key": 20, "rank": 3}]},
            ensure_ascii=False)
        r = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "scripts", "show-scores.py")],
                           input=line.encode(), capture_output=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().split("\n")[1:-1]
        self.assertEqual(len(lines), 4, lines)

        def starts(l):
            cols, w = [], 0
            for i, ch in enumerate(l):
                if ch != " " and (i == 0 or l[i - 1] == " "):
                    cols.append(w)
                w += display_width(ch)
            return cols, w

        head, end = starts(lines[0])
        for l in lines[1:]:
            cols, w = starts(l)
            self.assertEqual(cols[:3], head[:3], "the name column starts alike:\n%s\n%s"
                             % (lines[0], l))
            self.assertEqual(w, end, "numbers end alike:\n%s\n%s" % (lines[0], l))


@unittest.skipUnless(ROOT, "creates users and groups: needs root")
class TestAccessWords(DaemonTestCase):
    """Officers and members, as the kernel reports them to the daemon."""

    accounts = None

    @classmethod
    def setUpClass(cls):
        cls.g = {k: "%s-c%s" % (TAG, k) for k in ("da", "ua", "ub", "none")}
        cls.u = {k: "%s-c%s" % (TAG, k) for k in ("off", "mem", "two")}
        g = cls.g
        cls.accounts = SystemAccounts(g.values(), (
            (cls.u["off"], g["da"], []), (cls.u["mem"], g["none"], [g["ua"]]),
            (cls.u["two"], g["none"], [g["ua"], g["ub"]])), KAOHECTL)
        cls.shared = cls.accounts.kaohectl

    @classmethod
    def tearDownClass(cls):
        if cls.accounts:
            cls.accounts.remove()

    def setUp(self):
        super().setUp()
        self.shared_ctl = self.shared
        conf = self.temp_plan(access={
            "admins": (("root",), ()),
            "da": ((), (self.g["da"],)),
            "ua": ((), (self.g["ua"],)),
            "ub": ((), (self.g["ub"],)),
        })
        self.daemon(conf)

    def as_user(self, key):
        name = self.u[key]
        return ["setpriv", "--reuid=" + name, "--regid=" + str(pwd.getpwnam(name).pw_gid),
                "--init-groups"]

    def test_member_bare_status_is_their_unit(self):
        mem = self.as_user("mem")
        st = self.ok("status", user=mem)
        self.assertEqual((st["unit"], st["name"]), ("ua", "八一路"))
        r = self.ctl("status", user=mem, json_out=False)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("name: 八一路", r.stdout.decode())
        # a member of two units names one
        two = self.as_user("two")
        r = self.ctl("status", user=two, json_out=False)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("name one of your 2 units: ua (八一路), ub (人民广场)", r.stderr.decode())
        self.assertEqual(self.ok("status", "ub", user=two)["unit"], "ub")
        # officers and admins still see every unit
        self.assertEqual(len(self.ok("status", user=self.as_user("off"))["units"]), 2)
        self.assertEqual(len(self.ok("status")["units"]), 2)

    def test_officer_reads_report(self):
        off = self.as_user("off")
        period = "%d-Q4" % now_local().year
        rep = self.ok("report", period, "--format", "csv", user=off)
        self.assertEqual(rep["format"], "csv")
        r = self.ctl("report", period, user=off, json_out=False)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("<html", r.stdout.decode())
        err = self.refused("permission-denied", "report", period, user=self.as_user("mem"))
        self.assertIn("may not run report (officers and admins only)", err["message"])

    def test_refusals_name_the_action(self):
        off = self.as_user("off")
        entry = self.ok("submit", "ua", "2")["id"]     # row 2 is db's
        for args, words in (
                (("void", str(entry), "--reason", "x"), "may not void entry #%d of row 2" % entry),
                (("submit", "ub", "2"), "may not submit for row 2"),
                (("move", "2", "%d-12-30" % now_local().year, "--reason", "x"),
                 "may not move the dues of row 2")):
            with self.subTest(args=args):
                err = self.refused("permission-denied", *args, user=off)
                self.assertIn(self.u["off"] + " " + words, err["message"])
                self.assertNotIn("may not record", err["message"])
                r = self.ctl(*args, user=off, json_out=False)
                self.assertEqual(r.returncode, 1)
                self.assertIn(words, r.stderr.decode())
        err = self.refused("permission-denied", "submit", "ua", "1", user=self.as_user("mem"))
        self.assertIn("may not run submit (officers and admins only)", err["message"])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
