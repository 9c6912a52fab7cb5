#!/usr/bin/python3
"""The reminders read as their readers read them, on the real kaohed
against real servers on 127.0.0.1: each email through Python's email
parser from aiosmtpd, each robot's and the generic webhook's JSON from
the HTTP sink. And `kaohectl test-send`, and a mail server that can never
take a message (no STARTTLS, refused credentials).

Usage:
    /usr/bin/python3 test_reading.py KAOHED KAOHECTL CONFIG_DIR

No test sleeps waiting for a deadline: the dues are date-times a few
seconds ahead, and the tests poll with a timeout.
"""

import datetime as dt
import email
import email.policy
import json
import os
import re
import socket
import subprocess
import signal
import sys
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import servers  # noqa: E402
from test_deliver import BEFORE_ONLY, MOBILE, NAMES, DeliverTestCase, unit_ids, zh_until  # noqa: E402

warnings.filterwarnings("ignore")   # aiosmtpd's own deprecation notes

SUBMIT1 = "报送年度业主委员会工作总结"
SUBMIT2 = "上报本月垃圾分类任务完成情况总结"
ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def zh_full(t):
    """"2026年12月7日 09:00", as a message's footer names its instant."""
    return "%d年%s" % (t.year, zh_until(t))


def with_submit(conf):
    """The plan at CONF with each deadline row's submit text, as the shipped plan has."""
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    text = text.replace('content = "报送材料一";', 'content = "报送材料一"; submit = "%s";' % SUBMIT1)
    text = text.replace('content = "报送材料二";', 'content = "报送材料二"; submit = "%s";' % SUBMIT2)
    assert text.count("submit = ") == 2, "the rows of write_config changed"
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    return conf


class ReadingTestCase(DeliverTestCase):

    def mail(self, smtp):
        """Every message SMTP got, parsed: (recipient, message)."""
        out = []
        for m in smtp.box.all():
            msg = email.message_from_bytes(m["data"], policy=email.policy.default)
            for r in m["to"]:
                out.append((r, msg))
        return out

    @staticmethod
    def text_of(msg):
        parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
        return parts["text/plain"], parts["text/html"]


class TestReadEmail(ReadingTestCase):

    def test_01_email_before_and_overdue(self):
        """A liaison's before and overdue mail name what to submit, to whom,
        by when (the time of day of a date-time due), what is at stake, and
        for the overdue notice until when a late submission still avoids
        the "missing" deduction; dates in Chinese, no ISO-8601 anywhere."""
        smtp, ca, creds = self.smtp_auth("pw-1")
        conf = with_submit(self.plan("""
  email = { url = "%s"; from = "考核办 <kaohe@xigang.example.org>";
            user = "kaohe"; password_file = "smtp-password"; ca_file = "%s"; };""" % (smtp.url, ca),
                                     units=("ua",), due_in=12, due2_in=12, close="120s"))
        self.start(conf, creds=creds)
        rcpt = "liaison@ua.example.org"

        def liaison():
            return [m for r, m in self.mail(smtp) if r == rcpt]
        self.wait(lambda: len(liaison()) >= 2, 40, "the before and overdue mails")
        before = [m for m in liaison() if "考核提醒" in str(m["Subject"])]
        overdue = [m for m in liaison() if "逾期提醒" in str(m["Subject"])]
        self.assertEqual((len(before), len(overdue)), (1, 1), [str(m["Subject"]) for m in liaison()])
        deadline = zh_until(self.due1)
        close = zh_until(self.due1 + dt.timedelta(seconds=120))

        subject = str(before[0]["Subject"])
        self.assertEqual(subject, "【考核提醒】八一路：2项材料请于%s前报送" % deadline)
        text, html = self.text_of(before[0])
        for want in ("联络员ua：",
                     "- 报送材料一（第1项）：请于%s前报送（逾期扣1分，未报送扣3分）" % deadline,
                     "  报送内容：%s；报送至：区住建局" % SUBMIT1,
                     "  报送内容：%s；报送至：区城管执法局" % SUBMIT2):
            self.assertIn(want, text)
        for want in (SUBMIT1, "区住建局", "请于%s前报送" % deadline):
            self.assertIn(want, html)
        sent_at = re.search(r"本通知由考核系统于(.+?)自动发送", text).group(1)
        self.assertRegex(sent_at, r"^%d年%d月%d日 \d\d:\d\d(:\d\d)?$"
                         % (self.due1.year, self.due1.month, self.due1.day))
        self.assertNotRegex(subject + text, ISO_INSTANT)

        subject = str(overdue[0]["Subject"])
        self.assertEqual(subject, "【逾期提醒】八一路：2项材料已逾期未报送")
        text, html = self.text_of(overdue[0])
        self.assertIn("- 报送材料一（第1项）：报送期限%s已过，已逾期未报送；补报截止时间%s，"
                      "此前补报扣1分，此后仍未报送扣3分" % (deadline, close), text)
        self.assertIn("报送内容：%s；报送至：区住建局" % SUBMIT1, text)
        self.assertIn("补报截止时间%s" % close, html)
        self.assertNotRegex(subject + text, ISO_INSTANT)

        # The leader's and the office's copies say the same of each row.
        leader = [m for r, m in self.mail(smtp) if r == "leader@ua.example.org"]
        self.wait(lambda: [m for r, m in self.mail(smtp) if r == "office@da.example.org"], 20,
                  "the office's copy")
        office = [m for r, m in self.mail(smtp) if r == "office@da.example.org"]
        for m in leader + office:
            text, _ = self.text_of(m)
            self.assertIn("补报截止时间%s" % close, text)
            self.assertIn("报送内容：%s" % SUBMIT1, text)


class TestReadWebhooks(ReadingTestCase):

    def test_02_robots_batch_and_generic_json(self):
        """Five units at one instant: a DingTalk robot serving all of them
        gets one post per instant listing each unit's rows and mentioning
        every liaison; a WeCom text robot (2048 bytes) gets them in as few
        posts as its limit allows, each unit whole in one, nothing cut. The
        generic webhook's JSON keeps its ISO-8601 fields and adds the
        readable ones."""
        sink = self.make_sink()
        units = unit_ids(5)
        conf = with_submit(self.plan("""
  webhooks = (
    { name = "ding"; type = "dingtalk"; url = "%s"; units = [ "*" ]; },
    { name = "wecom"; type = "wecom"; url = "%s"; units = [ "*" ]; },
    { name = "gen"; type = "generic"; url = "%s"; units = [ "u001" ]; }
  );""" % (sink.url("/dingtalk/all"), sink.url("/wecom/all"), sink.url("/generic/u001")),
                                     units=units, due_in=12, due2_in=12, close="120s"))
        self.start(conf)
        mobiles = [MOBILE % i for i in range(1, 6)]
        deadline = zh_until(self.due1)
        close = zh_until(self.due1 + dt.timedelta(seconds=120))

        def posts(path, word):
            return [json.loads(r["body"]) for r in sink.got(path) if word.encode() in r["body"]]

        def units_in(c):
            """The units a robot's post is about: each line labelled with its
            unit, or one unit's own message (its name in the subject)."""
            labelled = [n for n in NAMES if "【%s】" % n in c]
            return labelled or [n for n in NAMES if "】%s：" % n in c.split("\n", 1)[0]]

        def wecom_units(word):
            return sorted(n for p in posts("/wecom/all", word) for n in units_in(p["text"]["content"]))
        self.wait(lambda: posts("/dingtalk/all", "逾期提醒") and posts("/generic/u001", "overdue")
                  and wecom_units("考核提醒") == sorted(NAMES)
                  and wecom_units("逾期提醒") == sorted(NAMES), 40, "the overdue posts")

        with self.subTest("DingTalk: one post per instant, every unit, every liaison"):
            for word, kind in (("考核提醒", "before"), ("逾期提醒", "overdue")):
                ps = posts("/dingtalk/all", word)
                self.assertEqual(len(ps), 1, [p["text"]["content"][:60] for p in ps])
                p = ps[0]
                c = p["text"]["content"]
                self.assertEqual(sorted(p["at"]["atMobiles"]), mobiles)
                for m in mobiles:
                    self.assertIn("@" + m, c)
                for name in NAMES:
                    self.assertEqual(c.count("【%s】" % name), 2, "both rows of %s: %s" % (name, c))
                self.assertLess(c.index("【八一路】"), c.index("【人民广场】"), "plan order")
                self.assertEqual(c.count("报送内容：%s；报送至：区住建局" % SUBMIT1), 5)
                self.assertEqual(c.count("报送内容：%s；报送至：区城管执法局" % SUBMIT2), 5)
                if kind == "before":
                    self.assertTrue(c.startswith("【考核提醒】八一路、人民广场、白云、日新、香炉礁：10项材料"
                                                 "请于%s前报送\n" % deadline), c[:200])
                    self.assertIn("请于%s前报送（逾期扣1分，未报送扣3分）" % deadline, c)
                else:
                    self.assertIn("补报截止时间%s，此前补报扣1分，此后仍未报送扣3分" % close, c)
                self.assertNotRegex(c, ISO_INSTANT)
            rows = [r for r in self.outbox()["rows"] if r["channel"] == "ding"]
            self.assertEqual(sorted(r["kind"] for r in rows), ["before", "overdue"], rows)

        with self.subTest("WeCom text: split only as 2048 bytes require, each unit whole"):
            for word in ("考核提醒", "逾期提醒"):
                ps = posts("/wecom/all", word)
                self.assertGreaterEqual(len(ps), 2, "10 rows do not fit 2048 bytes")
                self.assertLess(len(ps), 5, "but several units fit one post")
                seen, mentioned = [], []
                for p in ps:
                    c = p["text"]["content"]
                    self.assertLessEqual(len(c.encode()), 2048)
                    self.assertNotIn("内容过长", c, "split, not cut")
                    names = units_in(c)
                    for n in names:
                        if len(names) > 1:
                            self.assertEqual(c.count("【%s】" % n), 2, "a unit's rows stay together")
                        else:
                            self.assertEqual(c.count("（第1项）") + c.count("（第2项）"), 2, c)
                    seen += names
                    mentioned += p["text"]["mentioned_mobile_list"]
                self.assertEqual(sorted(seen), sorted(NAMES), "each unit once")
                self.assertEqual(sorted(mentioned), mobiles, "each liaison once")

        with self.subTest("generic JSON: machine fields ISO-8601, readable ones added"):
            for p in posts("/generic/u001", '"kind"'):
                self.assertEqual(p["unit"]["id"], "u001")
                self.assertIsNotNone(dt.datetime.fromisoformat(p["at"]).tzinfo)
                self.assertRegex(p["at_text"], r"^%d年\d+月\d+日 \d\d:\d\d" % self.due1.year)
                items = {i["occurrence"]: i for i in p["items"]}
                i1 = items["1"]
                self.assertEqual(dt.datetime.fromisoformat(i1["deadline"]), self.due1)
                self.assertEqual(dt.datetime.fromisoformat(i1["close"]),
                                 self.due1 + dt.timedelta(seconds=120))
                self.assertEqual(i1["due"], self.due1.date().isoformat())
                self.assertEqual(i1["department"], "区住建局")
                self.assertEqual(i1["submit"], SUBMIT1)
                self.assertEqual(i1["deadline_text"], deadline)
                self.assertEqual(i1["close_text"], close)
                self.assertEqual(i1["due_text"], deadline)
                self.assertIn("报送内容：%s；报送至：区住建局" % SUBMIT1, p["text"])
                if p["kind"] == "overdue":
                    self.assertIn("补报截止时间%s" % close, p["text"])
                else:
                    self.assertIn("请于%s前报送" % deadline, p["subject"])


class TestSend(ReadingTestCase):

    def test_03_test_send_email(self):
        """kaohectl test-send email ADDRESS: the mail goes now, and kaohectl
        prints the SMTP server's replies; audited. A server refusing the
        credentials: exit 1, its 535 shown, and what to change."""
        smtp, ca, creds = self.smtp_auth("pw-1")
        conf = self.plan("""
  email = { url = "%s"; from = "考核办 <kaohe@xigang.example.org>";
            user = "kaohe"; password_file = "smtp-password"; ca_file = "%s"; };""" % (smtp.url, ca),
                         units=("ua",), due_in=3600, due2_in=3600)
        self.start(conf, creds=creds)

        r = self.ctl("test-send", "email", "someone@example.org", json_out=False)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("to: someone@example.org", out)
        self.assertIn("status: 250", out)
        said = out.split("said:\n", 1)[1].splitlines()
        self.assertTrue(said[0].startswith("  220 "), out)          # the greeting
        self.assertTrue(any(l.startswith("  235 ") for l in said), out)   # AUTH accepted
        self.assertTrue(said[-1].startswith("  250 ") or said[-2].startswith("  250 "), out)
        got = [m for rc, m in self.mail(smtp) if rc == "someone@example.org"]
        self.assertEqual(len(got), 1)
        self.assertEqual(str(got[0]["Subject"]), "【测试】考核系统通知渠道测试")
        text, _ = self.text_of(got[0])
        self.assertIn("通知渠道“email”（email）的测试消息", text)
        self.assertEqual(str(got[0]["X-Kaohe-Delivery"]), "0")

        # Without RECIPIENT: the first admin with an address.
        data = self.ok("test-send", "email")
        self.assertEqual(data["to"], "admin@kaohe.example.org")
        self.assertEqual(data["status"], 250)
        self.assertTrue(data["said"][0].startswith("220 "))
        audit = [a["command"] for a in self.ok("audit", "10")]
        self.assertIn("test-send email someone@example.org", audit)
        self.assertIn("test-send email", audit)
        # Nothing went through the outbox.
        self.assertFalse([r for r in self.outbox()["rows"] if "someone" in r["to"]])

        # The same server, another password: refused, and said so.
        smtp.password = b"another"
        r = self.ctl("test-send", "email", "someone@example.org", json_out=False)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("send-failed", err)
        self.assertIn("refused the credentials", err)
        self.assertIn("password_file", err)
        self.assertRegex(err, r"\n  535[ -]")
        e = self.refused("send-failed", "test-send", "email", "someone@example.org")
        self.assertEqual(e["status"], 535)

        # An unknown channel, a bad address: usage errors, nothing sent.
        e = self.refused("usage", "test-send", "fax")
        self.assertIn('no channel "fax" (the channels: email)', e["message"])
        self.assertEqual(len([m for rc, m in self.mail(smtp) if rc == "someone@example.org"]), 1)

    def test_04_test_send_webhook(self):
        """kaohectl test-send CHANNEL [MOBILE] over webhooks: the HTTP status
        and body as the server answered them; a failing endpoint's too."""
        sink = self.make_sink()
        sink.script("/generic/bad", [{"status": 400, "body": "no such hook"}])
        conf = self.plan("""
  webhooks = (
    { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; },
    { name = "bad"; type = "generic"; url = "%s"; units = [ "*" ]; },
    { name = "wecom"; type = "wecom"; url = "%s"; units = [ "*" ]; }
  );""" % (sink.url("/generic/ok"), sink.url("/generic/bad"), sink.url("/wecom/t?key=k")),
                         units=("ua",), due_in=3600, due2_in=3600)
        self.start(conf)

        data = self.ok("test-send", "gen")
        self.assertEqual(data["status"], 204)
        self.assertEqual(data["provider"], "generic")
        self.assertTrue(data["said"][0].startswith("HTTP/1."), data)
        p = json.loads(sink.got("/generic/ok")[0]["body"])
        self.assertEqual((p["kind"], p["delivery"], p["items"]), ("test", 0, []))
        self.assertIn("“gen”", p["text"])

        data = self.ok("test-send", "wecom", "13800000009")
        self.assertEqual(data["status"], 200)
        self.assertEqual(json.loads(data["body"]), {"errcode": 0, "errmsg": "ok"})
        self.assertEqual(data["to"], sink.url("/wecom/t") + "?…", "the robot's key is not shown")
        w = json.loads(sink.got("/wecom/t")[0]["body"])
        self.assertEqual(w["text"]["mentioned_mobile_list"], ["13800000009"])

        r = self.ctl("test-send", "bad", json_out=False)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("HTTP 400", err)
        self.assertIn("\n  no such hook", err)
        e = self.refused("usage", "test-send", "gen", "not-a-mobile")
        self.assertIn("mobile", e["message"])


class TestTestSendWaits(ReadingTestCase):
    """test-send waits for its server without holding up the daemon: a
    webhook server holds its answer until the test releases it."""

    def held_sink(self):
        sink = self.make_sink()
        sink.script("/generic/held", [{"status": 200, "body": "held, then released"}] * 4)
        sink.hold(0)
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; } );"""
                         % sink.url("/generic/held"), units=("ua",), due_in=3600, due2_in=3600)
        return sink, self.start(conf)

    @staticmethod
    def nothing_to_read(sock):
        """Whether SOCK has nothing to read now (neither bytes nor EOF)."""
        sock.setblocking(False)
        try:
            sock.recv(1, socket.MSG_PEEK)
            return False
        except BlockingIOError:
            return True
        finally:
            sock.settimeout(harness.WAIT)

    def test_07_others_are_answered_meanwhile(self):
        """While the server holds test-send's request, ping and status on
        other connections are answered; the same client's next request
        waits behind its test-send, in order; once released, kaohectl
        prints what the server said."""
        sink, d = self.held_sink()
        waiting = subprocess.Popen([harness.KAOHECTL, "-s", self.sock, "test-send", "gen"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=harness.utf8_env())
        self.addCleanup(waiting.kill)
        same = harness.unix_connect(self.sock)
        self.addCleanup(same.close)
        same.sendall(b"test-send gen\nping\n")
        self.wait(lambda: len(sink.got("/generic/held")) == 2, harness.WAIT,
                  "both test messages at the server")

        # The server has not answered: the daemon answers others all the same.
        self.assertTrue(self.ok("ping")["pong"])
        self.assertTrue(self.ok("status"))
        self.assertFalse(sink.released.is_set())
        self.assertIsNone(waiting.poll(), "test-send answered before its server did")
        self.assertTrue(self.nothing_to_read(same), "an answer before the server's")

        sink.release()
        out, err = waiting.communicate(timeout=harness.WAIT)
        self.assertEqual(waiting.returncode, 0, err.decode())
        out = out.decode()
        self.assertIn("status: 200", out)
        self.assertIn("HTTP/1.1 200", out)
        self.assertIn("held, then released", out)
        answers = same.makefile("rb")
        first = json.loads(answers.readline())
        second = json.loads(answers.readline())
        answers.close()
        self.assertEqual((first["ok"], first["data"]["status"]), (True, 200), first)
        self.assertEqual(first["data"]["body"], "held, then released")
        self.assertTrue(second["ok"] and second["data"]["pong"], "the ping's answer comes second")
        audit = [a for a in self.ok("audit", "10") if a["command"] == "test-send gen"]
        self.assertEqual(len(audit), 2, audit)
        self.assertTrue(d.alive())

    def test_08_client_gone_before_the_answer(self):
        """A client that leaves while its test-send waits: the daemon stays
        healthy, the late answer goes nowhere (audited all the same); and
        a daemon stopped while a test-send waits stops cleanly."""
        sink, d = self.held_sink()
        gone = harness.unix_connect(self.sock)
        gone.sendall(b"test-send gen\n")
        self.wait(lambda: len(sink.got("/generic/held")) == 1, harness.WAIT,
                  "the test message at the server")
        gone.close()
        self.assertTrue(self.ok("ping")["pong"])
        sink.release()
        d.wait_log(r"info: root: test message over gen to \S+/generic/held: sent \(200\)")
        self.assertTrue(self.ok("ping")["pong"])
        audit = [a for a in self.ok("audit", "10") if a["command"] == "test-send gen"]
        self.assertEqual(len(audit), 1, audit)
        self.assertIn("held, then released", audit[0]["result"])

        # Stopped while one waits: its client hears the connection close.
        sink.released.clear()
        waiting = harness.unix_connect(self.sock)
        self.addCleanup(waiting.close)
        waiting.sendall(b"test-send gen\n")
        self.wait(lambda: len(sink.got("/generic/held")) == 2, harness.WAIT,
                  "the second test message at the server")
        self.assertEqual(d.term(), 0, d.log()[-3000:])
        self.assertIsNone(harness.recv_line(waiting))
        sink.release()
        # Audited as such: the result was never known.
        self.start(None, again=d)
        audit = [a for a in self.ok("audit", "10") if a["command"] == "test-send gen"]
        self.assertEqual(len(audit), 2, audit)
        results = sorted(a["result"] for a in audit)
        self.assertIn("held, then released", results[0])
        self.assertIn("kaohed stopped before the server answered", results[1])

    def test_09_no_answer_within_the_limit(self):
        """A server that takes the request and never answers: kaohectl
        exits 1 once the limit passed (15 s; curl gives up a second
        before it), saying that it had no answer in 15 s, curl's words, and
        what to check. The daemon answers others all along, and audits the
        failure."""
        sink, d = self.held_sink()
        t0 = time.monotonic()
        waiting = subprocess.Popen([harness.KAOHECTL, "-s", self.sock, "test-send", "gen"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=harness.utf8_env())
        self.addCleanup(waiting.kill)
        self.wait(lambda: len(sink.got("/generic/held")) == 1, harness.WAIT,
                  "the test message at the server")
        # Pings on other connections, every half second, until the answer.
        answered = []
        while waiting.poll() is None:
            self.assertTrue(harness.ask(self.sock, "ping")["data"]["pong"])
            if waiting.poll() is None:
                answered.append(time.monotonic() - t0)
            try:
                waiting.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
            self.assertLess(time.monotonic() - t0, 60, "no answer to test-send in 60 s")
        elapsed = time.monotonic() - t0
        out, err = waiting.communicate(timeout=harness.WAIT)
        err = err.decode()
        self.assertEqual(waiting.returncode, 1, out.decode() + err)
        self.assertGreaterEqual(elapsed, 14, "answered before the limit: " + err)
        self.assertGreater(max(answered), 10, "pings answered while it waited: %r" % answered)
        self.assertIn("send-failed", err)
        why = (r"no answer in 15 s \((Operation timed out after 1[45]\d{3} milliseconds.*\): "
               r"check that the server is up|the server, or the deliveries ahead of it)")
        self.assertRegex(err, why)
        self.assertFalse(sink.released.is_set(), "the server never answered")
        d.wait_log(r"warning: root: test message over gen to \S+/generic/held failed: " + why)
        audit = [a for a in self.ok("audit", "10") if a["command"] == "test-send gen"]
        self.assertEqual(len(audit), 1, audit)
        self.assertRegex(audit[0]["result"], why)
        self.assertIn("send-failed", audit[0]["result"])
        self.assertTrue(d.alive())

    def test_10_reload_while_a_test_send_waits(self):
        """SIGHUP while a test-send waits: the reload is taken at once (the
        channel renamed, its URL changed), and the waiting client gets its
        one answer, the server's, when the server gives it. Nothing of the
        old configuration is needed for it, nothing is left behind: a
        stop later audits no test-send as cut short."""
        sink, d = self.held_sink()
        waiting = subprocess.Popen([harness.KAOHECTL, "-s", self.sock, "--json", "test-send", "gen"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=harness.utf8_env())
        self.addCleanup(waiting.kill)
        self.wait(lambda: len(sink.got("/generic/held")) == 1, harness.WAIT,
                  "the test message at the server")
        with open(d.config, encoding="utf-8") as f:
            text = f.read()
        new = text.replace('name = "gen"', 'name = "gen2"').replace("/generic/held", "/generic/after")
        self.assertNotEqual(new, text)
        with open(d.config, "w", encoding="utf-8") as f:
            f.write(new)
        mark = len(d.messages)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_notify("READY=1", since=mark)
        d.wait_log(r"reload: configuration loaded")

        # Reloaded while the message waits: the new channels hold, the wait goes on.
        e = self.refused("usage", "test-send", "gen")
        self.assertIn('no channel "gen" (the channels: gen2)', e["message"])
        self.assertTrue(self.ok("ping")["pong"])
        self.assertIsNone(waiting.poll(), "test-send answered before its server did")

        sink.release()
        out, err = waiting.communicate(timeout=harness.WAIT)
        self.assertEqual(waiting.returncode, 0, err.decode())
        data = json.loads(out)["data"]
        self.assertEqual((data["channel"], data["status"], data["body"]),
                         ("gen", 200, "held, then released"), data)
        self.assertTrue(data["to"].endswith("/generic/held"), data)

        # The next one goes where the new configuration says.
        data = self.ok("test-send", "gen2")
        self.assertEqual(data["status"], 204)
        self.assertEqual(len(sink.got("/generic/after")), 1)
        self.assertEqual(len(sink.got("/generic/held")), 1)
        audit = self.ok("audit", "10")
        self.assertIn(("SIGHUP", "reload"), [(a["by"], a["command"]) for a in audit], audit)
        sent = [a for a in audit if "held, then released" in a["result"]]
        self.assertEqual([a["command"] for a in sent], ["test-send gen"], audit)

        self.assertEqual(d.term(), 0, d.log()[-3000:])
        self.start(None, again=d)
        audit = self.ok("audit", "10")
        self.assertFalse([a for a in audit if "stopped before" in a["result"]], audit)
        self.assertEqual(len([a for a in audit if "held, then released" in a["result"]]), 1, audit)


class TestNeverDeliverable(ReadingTestCase):

    def test_05_refused_credentials_are_final(self):
        """Credentials the server refuses: dead at the first attempt, a
        warning saying what to change; test-send to a server without
        STARTTLS says so too."""
        smtp, ca, creds = self.smtp_auth("right", given="wrong")
        conf = self.plan("""
  email = { url = "%s"; from = "kaohe@xigang.example.org"; user = "kaohe";
            password_file = "smtp-password"; ca_file = "%s"; };
  retry = { first = "200ms"; };""" % (smtp.url, ca), units=("ua",), due_in=10, due2_in=600,
                         reminders=BEFORE_ONLY)
        d = self.start(conf, creds=creds)
        rows = self.wait_states(1, "dead")
        dead = [r for r in rows if r["state"] == "dead"][0]
        self.assertEqual(dead["attempts"], 1, "not retried")
        self.assertIn("refused the credentials", dead["error"])
        self.assertIn("password_file", dead["error"])
        d.wait_log(r"error: deliver: #\d+ to email liaison@ua\.example\.org is dead after "
                   r"1 attempt: smtp 535: the server refused the credentials")
        self.assertFalse([r for r in self.outbox()["rows"] if r["state"] == "failed"])
        self.assertEqual(smtp.box.all(), [])

    def test_06_test_send_without_starttls(self):
        plain = servers.PlainSMTP()
        self.addCleanup(plain.stop)
        conf = self.plan("""
  email = { url = "%s"; from = "kaohe@xigang.example.org"; };""" % plain.url,
                         units=("ua",), due_in=3600, due2_in=3600)
        self.start(conf)
        e = self.refused("send-failed", "test-send", "email", "x@example.org")
        self.assertIn("no STARTTLS", e["message"])
        self.assertIn("smtps://", e["message"])
        self.assertIn("220 plain ESMTP", e["errors"])
        self.assertFalse(any(l.upper().startswith((b"MAIL", b"DATA")) for l in plain.seen))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
