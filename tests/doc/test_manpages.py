#!/usr/bin/python3
"""The manual pages man/kaohed.8, man/kaohectl.8 and man/kaohe.conf.5.

Usage:
    /usr/bin/python3 test_manpages.py KAOHED KAOHECTL MANDIR CONFIG_DIR

The running code is the source of truth, so the pages cannot fall behind it:

- every option `kaohed --help` names is in kaohed.8, and so are its
  commands;
- every command the daemon knows (its answer to an unknown command lists
  them, read through `kaohed simulate --events`) is an item of kaohectl.8's
  command list, with the arguments and options of the usage the daemon
  gives for it; every option of `kaohectl --help` and $KAOHE_SOCKET are in
  the page;
- every configuration setting is an item of its group's section of
  kaohe.conf.5.  The settings come from the loader: a configuration that
  sets every setting of every group (PROBE below), with an unknown setting
  added to each group, makes `kaohed --check` name each group and list its
  settings.  Nothing else may be wrong in it, every group must answer, and
  every setting a group lists must be set somewhere in PROBE, so that a new
  group inside a group is probed too;
- the example configuration of kaohe.conf.5 loads (`kaohed --check`);
- `mandoc -Tlint -Wstyle` finds nothing but references to other packages'
  pages it cannot see (its check of `.Xr` looks them up in mandoc.db, which
  a Debian machine does not keep); references between the three pages are
  checked against a database of their own.

Needs mandoc (and makewhatis, which comes with it).  No network.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

KAOHED = KAOHECTL = MANDIR = CONFIG_DIR = None
PAGES = ("kaohed.8", "kaohectl.8", "kaohe.conf.5")
PROBE_KEY = "probe_unknown_setting"
# Top-level settings that exclude one PROBE sets: a configuration names its
# plan with the plan group or its plan files with plans, not both.
EXCLUSIVE = {"plans"}


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def page(name):
    with open(os.path.join(MANDIR, name), encoding="utf-8") as f:
        return f.read()


def unescape(text):
    """mdoc source as text: \\- is -, \\e a backslash, \\& nothing."""
    return (text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
            .replace("\\(dq", '"'))


def sections(text):
    """{SECTION: its source}, by .Sh."""
    out, name = {}, None
    for line in text.split("\n"):
        m = re.match(r"\.Sh (.+)", line)
        if m:
            name = m.group(1).strip()
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


MACRO = re.compile(r"^(?:[A-Z][a-z]{1,2}|%[A-Z])$")


def flags(text):
    """Every option the page writes with Fl, as typed: '-c', '--year'."""
    found = set()
    for line in unescape(text).split("\n"):
        toks = line.lstrip(".").split()
        i = 0
        while i < len(toks):
            if toks[i] == "Fl":
                i += 1
                while i < len(toks) and not MACRO.match(toks[i]):
                    if toks[i] not in "|,;.()[]":
                        found.add("-" + toks[i])
                    i += 1
            else:
                i += 1
    return found


def items(text, macro):
    """{NAME: the item's source} for each `.It MACRO NAME ...` of TEXT."""
    out, name = {}, None
    for line in unescape(text).split("\n"):
        if line.startswith(".Sh "):
            name = None
        m = re.match(r"\.It %s (\S+)" % macro, line)
        if m:
            name = m.group(1)
            out.setdefault(name, "")
        if name:
            out[name] += line + "\n"
    return out


# --- the probe configuration ---------------------------------------------------

class IdMap(dict):
    """A group whose members are ids, not settings (access.units): no probe."""


def contact(n):
    return {"name": "联络员%d" % n, "email": "c%d@example.org" % n, "mobile": "1380000000%d" % n}


def template():
    return {"subject": "{unit}", "body": "{items}"}


# Every setting of every group, in a configuration that loads.  Where two
# settings exclude each other (a webhook's url and url_file, a row's
# deadline and record), two elements set one each.
PROBE = {
    "kaohe": {
        "timezone": "Asia/Shanghai", "calendar_dir": "calendars",
        "state_dir": "/nonexistent/state",
        "control_socket": "/nonexistent/control.sock", "export_dir": "",
        "log_level": "info", "control_max_clients": 64, "control_max_per_uid": 16,
        "control_idle_timeout": 60, "metrics_file": "", "metrics_interval": 15,
    },
    "access": {
        "admins": {"users": ["root"], "groups": ["kaohe-admin"]},
        "departments": IdMap({"d1": {"users": [], "groups": ["kaohe-d1"]}}),
        "units": IdMap({"u1": {"users": [], "groups": ["kaohe-u1"]}}),
    },
    "calendar": {"holidays": ["01-01", "10-01..10-08"], "workdays": ["10-10"]},
    "reminders": {
        "before": ["-3d@09:00"], "due": ["0d@09:00"],
        "overdue": {"first": "+1d@09:00", "every": "3d"},
        "escalate": True, "record": ["0d@09:00"], "shift_to_workdays": True,
        "not_before_in_force": True, "admins": [contact(9)],
        "templates": {
            "before": template(), "due": template(), "overdue": template(),
            "escalation": template(), "record": template(), "snapshot": template(),
            "dead": template(), "test": template(), "ended": template(), "item": "{title}",
        },
    },
    "channels": {
        "email": {
            "url": "smtp://mail.example.org:587", "from": "考核办 <kaohe@example.org>",
            "user": "kaohe", "password_file": "password", "ca_file": "ca.pem",
            "rate": ["60/min"],
        },
        "webhooks": [
            {"name": "hook", "type": "generic", "url": "https://example.org/hook",
             "secret_file": "secret", "format": "text", "units": ["*"],
             "departments": ["d1"], "admins": True, "rate": ["5/s"], "ca_file": "ca.pem"},
            {"name": "robot", "type": "wecom", "url_file": "robot.url", "units": ["u1"]},
        ],
        "concurrency": 8, "connect_timeout": "10s", "timeout": "30s",
        "retry": {"first": "30s", "factor": 2.0, "cap": "1h", "max_attempts": 10,
                  "max_age": "2d", "jitter": 0.2},
    },
    "plan": {
        "year": 2020, "title": "考核", "document": "文件", "total": 10,
        "in_force": {"from": "05-01", "to": "12-31"}, "calendar": "official",
        "track_from": "05-01", "close": "quarter-end", "missing_default": "late",
        "categories": [{"id": "basic", "name": "基本工作", "max": 10, "annex": ["常规工作"]}],
        "units": [{"id": "u1", "name": "单位一", "liaisons": [contact(1)],
                   "leader": contact(2)}],
        "departments": [{"id": "d1", "name": "部门一", "office": contact(3)}],
        "metrics": [{"id": "m1", "name": "满意度", "unit": "%"}],
        "rows": [
            {"id": "1", "seq": "1", "annex_category": "常规工作", "category": "basic",
             "department": "d1", "max": 6, "content": "内容", "time_node": "每季度",
             "standard": "标准", "scoring": "评分", "submit": "报送", "earn": False,
             "deadline": {"due": "quarterly:10", "late": 0.5, "missing": 1},
             "findings": [{"kind": "f", "name": "问题", "points": 0.2, "cap": 2}],
             "awards": [{"kind": "a", "name": "表扬", "points": 0.5, "cap": 1}],
             "thresholds": [{"points": 1, "any": [{"metric": "m1", "min": 80}]}],
             "ranking": {"metric": "m1", "worst": "lowest", "points": [1]}},
            {"id": "2", "category": "basic", "department": "d1", "max": 4,
             "content": "内容", "standard": "标准", "scoring": "评分",
             "record": {"due": "12-10"}},
        ],
    },
}


def render(v, indent):
    """V in libconfig's syntax.  Every group of settings gets a probe
    first, numbered: PROBES maps the number to the group."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    inner = indent + "  "
    if isinstance(v, dict):
        out = "{\n"
        if not isinstance(v, IdMap):
            PROBES.append(v)
            out += "%s%s = %d;\n" % (inner, PROBE_KEY, len(PROBES) - 1)
        for k, x in v.items():
            out += "%s%s = %s;\n" % (inner, k, render(x, inner))
        return out + indent + "}"
    if v and isinstance(v[0], dict):
        return "(\n" + ",\n".join(inner + render(e, inner) for e in v) + "\n" + indent + ")"
    return "[ " + ", ".join(render(e, indent) for e in v) + " ]"


PROBES = []  # the groups of PROBE, by the number of their probe


def probe_config():
    """The probe configuration's text, and {line: group probed there}."""
    PROBES.clear()
    text = render(PROBE, "")
    # The top level is no group in the syntax: its members stand bare.
    text = "\n".join(l[2:] for l in text.split("\n")[1:-1]) + "\n"
    lines = {}
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"\s*%s = (\d+);" % PROBE_KEY, line)
        if m:
            lines[n] = PROBES[int(m.group(1))]
    return text, lines


class Pages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def simulate_errors(self, events):
        path = os.path.join(self.tmp, "events.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(events)
        r = run([KAOHED, "-c", os.path.join(CONFIG_DIR, "kaohe.conf"), "simulate",
                 "--from", "2020-05-01", "--to", "2020-05-02", "--events", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        return r.stderr

    def test_mandoc_lint(self):
        # A manual path of the three pages, so that their .Xr between them
        # are checked; other packages' pages are not in it.
        mp = os.path.join(self.tmp, "man")
        for p in PAGES:
            d = os.path.join(mp, "man" + p.rsplit(".", 1)[1])
            os.makedirs(d, exist_ok=True)
            shutil.copy(os.path.join(MANDIR, p), d)
        r = run(["makewhatis", mp])
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = {"%s(%s)" % tuple(p.rsplit(".", 1)) for p in PAGES}
        env = dict(os.environ, MANPATH=mp)
        for p in PAGES:
            r = run(["mandoc", "-Tlint", "-Wstyle", os.path.join(MANDIR, p)], env=env)
            bad = []
            for line in r.stdout.splitlines() + r.stderr.splitlines():
                m = re.search(r"STYLE: referenced manual not found: Xr (\S+) (\S+)", line)
                if m and "%s(%s)" % m.groups() not in ours:
                    continue
                bad.append(line)
            self.assertEqual(bad, [], "mandoc -Tlint -Wstyle %s" % p)
            self.assertIn(r.returncode, (0, 1), r.stderr)  # 1: only the style notes above

    def test_kaohed_options(self):
        r = run([KAOHED, "--help"])
        self.assertEqual(r.returncode, 0)
        # Not the example of an events file's line (a kaohectl command).
        usage = re.sub(r"(?m)^\s+\d{4}-\d\d-\d\dT.*$", "", r.stdout)
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", usage))
        self.assertGreater(len(opts), 15, opts)
        text = page("kaohed.8")
        missing = opts - flags(text)
        self.assertEqual(missing, set(), "options of kaohed --help missing from kaohed.8")
        for cmd in ("simulate", "publish"):
            self.assertIn(cmd, r.stdout)
            if cmd not in items(text, "Cm"):
                self.fail("kaohed.8 has no item .It Cm " + cmd)

    def test_kaohectl_options(self):
        r = run([KAOHECTL, "--help"])
        self.assertEqual(r.returncode, 0)
        usage = r.stdout.split("commands")[0]
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", usage))
        self.assertLessEqual({"-s", "--socket", "--json", "--wide", "--year", "-V", "--version",
                              "-h", "--help"}, opts)
        text = page("kaohectl.8")
        self.assertEqual(opts - flags(text), set())
        self.assertIn("$KAOHE_SOCKET", r.stdout)
        self.assertIn(".Ev KAOHE_SOCKET", text)

    def test_kaohectl_commands(self):
        err = self.simulate_errors("2020-05-01T10:00:00+08:00 no-such-command\n")
        m = re.search(r'unknown command "no-such-command"; commands: (.+)', err)
        self.assertIsNotNone(m, err)
        commands = m.group(1).strip().split(", ")
        self.assertGreater(len(commands), 15, commands)
        # Too many arguments: the daemon answers each with its usage.
        err = self.simulate_errors("".join(
            "2020-05-01T10:00:00+08:00 %s a b c d e f g\n" % c for c in commands))
        usages = dict(re.findall(r"usage: (\S+): wrong number of arguments; usage: (.+)", err))
        self.assertEqual(sorted(usages), sorted(commands), err)
        cmds = items(page("kaohectl.8"), "Cm")
        for c in commands:
            with self.subTest(command=c):
                if c not in cmds:
                    self.fail("kaohectl.8 has no item .It Cm %s" % c)
                item = cmds[c]
                head = item.split("\n")[0]
                for word in re.split(r"[\s\[\]|]+", usages[c])[1:]:
                    if not word:
                        continue
                    if word.startswith("--"):
                        self.assertIn(word, flags(item), "%s: option %s" % (c, word))
                    elif word.isupper():
                        self.assertRegex(head, r"\bAr\b(?:\s+\w+)*?\s+%s\b" % word.lower(),
                                         "%s: argument %s" % (c, word))
                    else:
                        self.assertRegex(item, r"\bCm %s\b" % re.escape(word),
                                         "%s: value %s" % (c, word))

    def test_configuration_settings(self):
        for f in ("password", "secret", "robot.url", "ca.pem"):
            with open(os.path.join(self.tmp, f), "w") as fh:
                fh.write("https://example.org/robot?key=x\n" if f == "robot.url" else "x\n")
        conf = os.path.join(self.tmp, "kaohe.conf")
        os.symlink(os.path.join(CONFIG_DIR, "calendars"), os.path.join(self.tmp, "calendars"))
        with open(conf, "w", encoding="utf-8") as f:
            text, probes = probe_config()
            f.write(text)
        r = run([KAOHED, "-c", conf, "--check"])
        self.assertEqual(r.returncode, 1)
        pat = re.compile(r"^%s:(\d+): unknown setting \"%s\" in (.+?); known: (.+)$"
                         % (re.escape(conf), PROBE_KEY))
        answered, others = {}, []
        for line in r.stderr.splitlines():
            m = pat.match(line)
            if m:
                answered[int(m.group(1))] = (m.group(2), m.group(3).split(", "))
            elif ": warning: " not in line:
                others.append(line)
        self.assertEqual(others, [], "the probe configuration has other errors")
        self.assertEqual(sorted(answered), sorted(probes),
                         "groups that did not answer their probe: %s"
                         % [probes[n] for n in probes if n not in answered])
        # Every setting a group lists is set in PROBE, in some group of
        # its kind (one that lists the same settings).
        by_known = {}
        for n, (label, known) in answered.items():
            by_known.setdefault(tuple(known), set()).update(probes[n].keys())
        for known, given in by_known.items():
            self.assertEqual(set(known) - given - EXCLUSIVE, set(),
                             "settings PROBE does not set (set them, so that a group "
                             "among them is probed too)")
        text = page("kaohe.conf.5")
        secs = sections(text)
        where = {"the top level": "DESCRIPTION", "kaohe": "KAOHE", "access": "ACCESS",
                 "calendar": "CALENDAR", "reminders": "REMINDERS", "channels": "CHANNELS",
                 "plan": "PLAN", "category": "PLAN", "unit": "PLAN", "department": "PLAN",
                 "metric": "PLAN", "row": "PLAN"}
        seen = 0
        for label, known in answered.values():
            first = label if label == "the top level" else re.split(r"[ .\[]", label)[0]
            self.assertIn(first, where, "no section of kaohe.conf.5 is known for the "
                          "settings of %s: add one, and the group to WHERE" % label)
            sec = secs[where[first]]
            its = items(sec, "Ic")
            for key in known:
                seen += 1
                if key not in its:
                    self.fail("kaohe.conf.5: %s, a setting of %s, is no item .It Ic %s of "
                              "section %s" % (key, label, key, where[first]))
        self.assertGreater(seen, 100)

    def test_configuration_example(self):
        ex = sections(page("kaohe.conf.5"))["EXAMPLES"]
        blocks = re.findall(r"\.Bd -literal[^\n]*\n(.*?)\.Ed", ex, re.S)
        main = [b for b in blocks if "@include" in b]
        self.assertEqual(len(main), 1)
        with open(os.path.join(self.tmp, "kaohe.conf"), "w", encoding="utf-8") as f:
            f.write(unescape(main[0]))
        shutil.copy(os.path.join(CONFIG_DIR, "plan-2020.conf"), self.tmp)
        os.symlink(os.path.join(CONFIG_DIR, "calendars"), os.path.join(self.tmp, "calendars"))
        for f in re.findall(r'_file = "([^"]+)"', main[0]):
            with open(os.path.join(self.tmp, f), "w") as fh:
                fh.write("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x\n"
                         if f.endswith("url") else "secret\n")
        r = run([KAOHED, "-c", os.path.join(self.tmp, "kaohe.conf"), "--check"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    KAOHED, KAOHECTL, MANDIR, CONFIG_DIR = (os.path.abspath(a) for a in sys.argv[1:5])
    del sys.argv[1:5]
    unittest.main(verbosity=2)
