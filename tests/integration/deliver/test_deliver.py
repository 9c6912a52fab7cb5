#!/usr/bin/python3
"""Integration tests of delivery: the outbox, email and the webhooks, on the
real kaohed against real servers on 127.0.0.1.

Usage:
    /usr/bin/python3 test_deliver.py KAOHED KAOHECTL CONFIG_DIR

The SMTP servers are Debian's aiosmtpd (STARTTLS required or TLS from the
start, with AUTH), their certificates come from a throw-away CA made with
openssl, and the webhook sink is an HTTP server answering as each provider
does, or as a test scripts it (errcode bodies, 429 with Retry-After, 500s,
answers that never come). Signatures are recomputed here independently.

No test sleeps waiting for a deadline: the plans' dues are date-times a few
seconds ahead, and the tests poll with a timeout.
"""

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import sys
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import harness  # noqa: E402  (the integration tests' harness)
from harness import DaemonTestCase, iso, now_local, wait_until  # noqa: E402
import servers  # noqa: E402

warnings.filterwarnings("ignore")   # aiosmtpd's own deprecation notes

NAMES = ["八一路", "人民广场", "白云", "日新", "香炉礁"]
MOBILE = "1380000%04d"
SECRET = "s3cr3t-签名"


def zh_until(t):
    """Instant T as a reminder names a deadline that is not a whole day:
    "12月7日 11:12", with the seconds when there are any."""
    return "%d月%d日 %s" % (t.month, t.day, t.strftime("%H:%M:%S" if t.second else "%H:%M"))


def unit_ids(n):
    return ["u%03d" % i for i in range(1, n + 1)]


# Only the "before" reminder: tests that count every request a unit gets
# leave the overdue notice out, whenever the machine lets them check.
BEFORE_ONLY = """\
  before = [ "-2s" ];
  due = [ ];
  overdue = false;
  record = [ ];
  shift_to_workdays = false;
  not_before_in_force = false;"""


def write_config(tmp, units, due1, due2, channels, reminders=None, close="4s",
                 admins_email="admin@kaohe.example.org", log_level="info"):
    """A plan for the current year: rows 1 (department da) and 2 (db) due at
    DUE1 and DUE2 (date-times), row 3 without a deadline. Each unit has one
    liaison (email liaison@ID.example.org, a mobile) and a leader."""
    year = now_local().year
    reminders = reminders or """\
  before = [ "-2s" ];
  due = [ ];
  overdue = { first = "+1s"; every = "1h"; };
  record = [ ];
  shift_to_workdays = false;
  not_before_in_force = false;"""
    ulines = []
    for i, u in enumerate(units):
        name = NAMES[i] if i < len(NAMES) else "街道%d" % (i + 1)
        ulines.append(
            '    { id = "%s"; name = "%s"; liaisons = ( { name = "联络员%s"; email = "liaison@%s.example.org";'
            ' mobile = "%s"; } ); leader = { name = "主任%s"; email = "leader@%s.example.org"; }; }'
            % (u, name, u, u, MOBILE % (i + 1), u, u))
    text = harness.plan_config(
        tmp, log_level=log_level, close=close,
        access="{ admins = { users = [ \"root\" ]; groups = [ ]; }; departments = { }; units = { }; }",
        channels="{\n%s\n}" % channels,
        reminders='%s\n  admins = ( { name = "考核办"; email = "%s"; } );' % (reminders, admins_email),
        title="投递测试考核方案", document="测试〔%d〕2号" % year, units=",\n".join(ulines),
        departments="""\
    { id = "da"; name = "区住建局"; office = { name = "住建办公室"; email = "office@da.example.org"; mobile = "13900000001"; }; },
    { id = "db"; name = "区城管执法局"; office = { name = "城管办公室"; email = "office@db.example.org"; }; }""",
        rows="""\
    { id = "1"; annex_category = "常规工作"; category = "basic"; department = "da"; max = 3;
      content = "报送材料一"; time_node = "T1"; standard = "按时报送"; scoring = "逾期扣1分，未报送扣3分";
      deadline = { due = "%s"; late = 1; missing = 3; }; },
    { id = "2"; annex_category = "常规工作"; category = "basic"; department = "db"; max = 3;
      content = "报送材料二"; time_node = "T2"; standard = "按时报送"; scoring = "逾期扣0.5分，未报送扣2分";
      deadline = { due = "%s"; late = 0.5; missing = 2; }; },
    { id = "3"; annex_category = "重点工作"; category = "key"; department = "da"; max = 4; earn = true;
      content = "重点工作"; time_node = "全年"; standard = "表扬"; scoring = "受表扬得2分";
      awards = ( { kind = "praise"; name = "表扬"; points = 2; } ); }""" % (iso(due1), iso(due2)))
    path = os.path.join(tmp, "kaohe.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def decode_words(raw):
    """Check RFC 2047 encoded-words in a raw header value: each at most 75
    octets and each decoding to whole UTF-8 characters by itself. The
    decoded text."""
    out = []
    words = re.findall(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=", raw)
    assert words, "no encoded-word in %r" % raw
    for cs, enc, data in words:
        word = "=?%s?%s?%s?=" % (cs, enc, data)
        assert len(word) <= 75, "encoded-word of %d octets: %s" % (len(word), word)
        assert cs.upper() == "UTF-8", cs
        b = base64.b64decode(data) if enc in "bB" else data.encode()
        out.append(b.decode("utf-8"))    # raises if a character was split
    return "".join(out)


def hmac_b64(key, msg):
    return base64.b64encode(hmac.new(key.encode(), msg.encode(), hashlib.sha256).digest()).decode()


class DeliverTestCase(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.sink = None
        self.smtp = []

    def _cleanup(self):
        if self.sink:
            self.sink.stop()
        for s in self.smtp:
            s.stop()
        super()._cleanup()

    def plan(self, channels, units=("ua", "ub"), due_in=4, due2_in=None, creds=None, **kw):
        t = now_local()
        self.due1 = t + dt.timedelta(seconds=due_in)
        self.due2 = t + dt.timedelta(seconds=due2_in if due2_in is not None else due_in)
        self.sock = os.path.join(self.tmp, "control.sock")
        self.state = os.path.join(self.tmp, "state")
        self.units = list(units)
        return write_config(self.tmp, self.units, self.due1, self.due2, channels, **kw)

    def start(self, conf, creds=None, again=None):
        """kaohed on CONF (or AGAIN, a Daemon to restart); CREDS: a
        $CREDENTIALS_DIRECTORY for it."""
        old = os.environ.get("CREDENTIALS_DIRECTORY")
        if creds:
            os.environ["CREDENTIALS_DIRECTORY"] = creds
        try:
            return again.start() if again else self.daemon(conf)
        finally:
            if creds:
                if old is None:
                    del os.environ["CREDENTIALS_DIRECTORY"]
                else:
                    os.environ["CREDENTIALS_DIRECTORY"] = old

    def make_sink(self):
        self.sink = servers.Sink()
        return self.sink

    def outbox(self, state=None):
        return self.ok("outbox", *([state] if state else []))

    def wait(self, pred, timeout, what):
        """wait_until, with the outbox and the log as they are at the end."""
        try:
            return wait_until(pred, timeout, what=what)
        except AssertionError as e:
            d = self.daemons[-1] if self.daemons else None
            raise AssertionError("%s\noutbox: %s\nlog:\n%s" % (
                e, self.outbox() if d and d.alive() else "-", d.log()[-3000:] if d else "")) from None

    def wait_states(self, n, state, timeout=15):
        return self.wait(lambda: (lambda rows: len([r for r in rows if r["state"] == state]) >= n
                                  and rows)(self.outbox()["rows"]),
                         timeout, "%d rows %s" % (n, state))

    def mail_to(self, smtp, rcpt, kinds=None):
        return [m for m in smtp.box.all() if rcpt in m["to"]]

    def cert(self):
        if not hasattr(self, "_ca"):
            self._ca = servers.make_ca(self.tmp)
        return self._ca

    def smtp_auth(self, password, given=None):
        """A STARTTLS SMTP server taking PASSWORD, and a credentials
        directory whose smtp-password holds GIVEN (PASSWORD when None):
        (the server, its CA file, the directory)."""
        ca, crt, key = self.cert()
        smtp = servers.SMTPServer(crt, key, "starttls", password=password)
        self.smtp.append(smtp)
        creds = os.path.join(self.tmp, "creds")
        os.mkdir(creds)
        with open(os.path.join(creds, "smtp-password"), "w", encoding="utf-8") as f:
            f.write((password if given is None else given) + "\n")
        return smtp, ca, creds


class TestEmail(DeliverTestCase):
    """SMTP with STARTTLS required and AUTH, digests, escalation, MIME and RFC 2047."""

    def test_01_starttls_digest_submission_escalation(self):
        smtp, ca, creds = self.smtp_auth("pässwörd-1")
        conf = self.plan("""
  email = { url = "%s"; from = "西岗区绩效考核办公室 <kaohe@xigang.example.org>";
            user = "kaohe"; password_file = "smtp-password"; ca_file = "%s"; };
  retry = { first = "200ms"; factor = 2.0; cap = "1s"; max_attempts = 3; };""" % (smtp.url, ca),
                         due_in=12, close="60s")
        # (the before reminder comes 10 s after this plan was written: room
        # for a loaded machine to start the daemon and take the submission
        # first; the overdue notices come long before the close)
        d = self.start(conf, creds=creds)
        # ub submits row 1 before the reminder: its reminder names row 2 only.
        self.ok("submit", "ub", "1")

        def by_rcpt():
            got = {}
            for m in smtp.box.all():
                for r in m["to"]:
                    got.setdefault(r, []).append(m)
            return got
        # before (ua, ub), then overdue to both and copies to the leaders and
        # offices: one message per office for the instant, however many units
        want = {"liaison@ua.example.org": 2, "liaison@ub.example.org": 2,
                "leader@ua.example.org": 1, "leader@ub.example.org": 1,
                "office@da.example.org": 1, "office@db.example.org": 1}
        self.wait(lambda: all(len(by_rcpt().get(k, [])) >= n for k, n in want.items()), 40,
                  "mail to %s" % want)
        got = by_rcpt()
        # Catching up on a fresh database, the admins hear of the latest
        # snapshot only (none yet in the year's first quarter).
        admin = got.pop("admin@kaohe.example.org", [])
        self.assertLessEqual(len(admin), 1, admin)
        self.assertEqual({k: len(v) for k, v in got.items()}, want, "nothing more, nothing twice")

        msgs = {}
        for rcpt, ms in got.items():
            for m in ms:
                self.assertTrue(m["tls"], "STARTTLS was used")
                self.assertTrue(m["auth"], "AUTH was used")
                self.assertEqual(m["from"], "kaohe@xigang.example.org")
                raw = m["data"]
                self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "CRLF line ends only")
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")   # headers are 7-bit
                unfolded = re.sub(r"\r\n[ \t]", " ", head)
                subj_raw = re.search(r"^Subject: (.*)$", unfolded, re.M).group(1)
                subject = decode_words(subj_raw)
                self.assertEqual(str(msg["Subject"]), subject)
                from_raw = re.search(r"^From: (.*)$", unfolded, re.M).group(1)
                self.assertEqual(decode_words(from_raw), "西岗区绩效考核办公室")
                self.assertEqual(msg["From"].addresses[0].display_name, "西岗区绩效考核办公室")
                self.assertEqual(msg["To"].addresses[0].addr_spec, rcpt)
                self.assertTrue(email.utils.parsedate_to_datetime(str(msg["Date"])))
                self.assertRegex(str(msg["Message-ID"]), r"^<[^@\s]+@xigang\.example\.org>$")
                self.assertRegex(str(msg["X-Kaohe-Delivery"]), r"^\d+$")
                self.assertEqual(msg.get_content_type(), "multipart/alternative")
                parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
                self.assertEqual(set(parts), {"text/plain", "text/html"})
                self.assertIn("<html", parts["text/html"].lower())
                msgs.setdefault(rcpt, []).append((subject, parts["text/plain"], parts["text/html"]))

        # ua's before reminder is one digest of both rows; ub's names row 2 only.
        ua_before = [m for m in msgs["liaison@ua.example.org"] if "报送材料一" in m[1]]
        self.assertTrue(ua_before, msgs["liaison@ua.example.org"])
        self.assertIn("报送材料二", ua_before[0][1], "one message for both rows (a digest)")
        for subject, text, html in msgs["liaison@ub.example.org"]:
            self.assertNotIn("报送材料一", text, "ub submitted row 1: never reminded of it")
            self.assertIn("报送材料二", text)
            self.assertIn("人民广场", subject + text)
        # stake and deadline are named, with the time of day (a date-time due)
        self.assertIn("请于%s前报送" % zh_until(self.due2), ua_before[0][1])
        self.assertIn("0.5", ua_before[0][1])
        # the offices get their own rows only; the leaders every overdue row
        self.assertTrue(all("报送材料二" not in t for _, t, _ in msgs["office@da.example.org"]))
        self.assertTrue(all("报送材料一" not in t for _, t, _ in msgs["office@db.example.org"]))
        # db's office: one digest of both units' row 2, each line labelled with its unit
        subject, text, html = msgs["office@db.example.org"][0]
        self.assertEqual(text.count("- 报送材料二（第2项）"), 2, text)
        for name in ("八一路", "人民广场"):
            self.assertIn("【%s】" % name, text)
            self.assertIn("【%s】" % name, html)
        self.assertLess(text.index("【八一路】"), text.index("【人民广场】"), "plan order")
        self.assertIn("区城管执法局", subject)
        # da's: ua's row 1 only (ub submitted it)
        da_text = msgs["office@da.example.org"][0][1]
        self.assertIn("【八一路】", da_text)
        self.assertNotIn("人民广场", da_text)
        self.assertIn("报送材料一", msgs["leader@ua.example.org"][0][1])
        self.assertIn("报送材料二", msgs["leader@ua.example.org"][0][1])
        self.assertNotIn("报送材料一", msgs["leader@ub.example.org"][0][1])

        rows = [r for r in self.outbox("sent")["rows"] if r["kind"] != "snapshot"]
        self.assertEqual(len(rows), sum(want.values()))
        self.assertEqual({r["kind"] for r in rows}, {"before", "overdue", "escalation"})
        self.assertTrue(all(r["attempts"] == 1 for r in rows), rows)
        counts = self.outbox()["counts"]
        self.assertEqual(counts["sent"], sum(want.values()) + len(admin), counts)

        with self.subTest("a restart sends nothing again"):
            d.term()
            self.start(conf, creds=creds, again=d)
            time.sleep(0.5)   # not a deadline: a window in which nothing may arrive
            self.assertEqual(sum(len(v) for v in by_rcpt().values()), sum(want.values()) + len(admin))

    def test_02_smtps_permanent_reject_dead_and_admin_notice(self):
        ca, crt, key = self.cert()
        smtp = servers.SMTPServer(crt, key, "smtps")
        self.smtp.append(smtp)
        with open(os.path.join(self.tmp, "pw"), "w") as f:
            f.write("s3cret")
        conf = self.plan("""
  email = { url = "%s"; from = "kaohe@xigang.example.org"; user = "kaohe";
            password_file = "pw"; ca_file = "%s"; };""" % (smtp.url, ca),
                         units=("ua", "reject"), due_in=4, due2_in=600)
        d = self.start(conf)
        def dead_notice():
            for m in smtp.box.all():
                if "admin@kaohe.example.org" in m["to"]:
                    msg = email.message_from_bytes(m["data"], policy=email.policy.default)
                    text = msg.get_body(("plain",)).get_content()
                    if "550" in text:
                        return text
        text = self.wait(dead_notice, 15, "the admins' notice of the dead delivery")
        dead = self.outbox("dead")["rows"]
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["to"], "liaison@reject.example.org")
        self.assertEqual(dead[0]["code"], 550)
        self.assertEqual(dead[0]["attempts"], 1, "a 5xx reply is not retried")
        self.assertIn("550", dead[0]["error"])
        self.assertIn("#%d" % dead[0]["id"], text)
        self.assertIn("550", text)
        self.assertTrue(any("liaison@ua.example.org" in m["to"] for m in smtp.box.all()))
        self.assertTrue(all(m["tls"] for m in smtp.box.all()))
        d.wait_log(r"#%d to email liaison@reject.example.org is dead" % dead[0]["id"])

    def test_03_starttls_required(self):
        """A server that offers no STARTTLS is never sent the message in the
        clear. It is a configuration to change, not a moment to wait out:
        dead at the first attempt, logged as a warning saying what to do."""
        plain = servers.PlainSMTP()
        self.addCleanup(plain.stop)
        conf = self.plan("""
  email = { url = "%s"; from = "kaohe@xigang.example.org"; };
  retry = { first = "1h"; };""" % plain.url, units=("ua",), due_in=4, due2_in=600)
        d = self.start(conf)
        rows = self.wait_states(1, "dead")
        dead = [r for r in rows if r["state"] == "dead"]
        self.assertEqual(dead[0]["attempts"], 1, "not retried")
        self.assertIn("no STARTTLS", dead[0]["error"])
        self.assertIn("smtps://", dead[0]["error"], "says what to change")
        self.assertNotIn("250", dead[0]["error"], "the EHLO's 250 is no verdict")
        self.assertFalse([r for r in self.outbox()["rows"] if r["state"] == "failed"])
        d.wait_log(r"error: deliver: #\d+ to email liaison@ua\.example\.org is dead after "
                   r"1 attempt: smtp: the server offers no STARTTLS")
        self.assertFalse(any(l.upper().startswith((b"MAIL", b"DATA", b"AUTH")) for l in plain.seen),
                         "nothing sent without TLS: %r" % plain.seen)


class TestWebhooks(DeliverTestCase):
    """Generic, WeCom, DingTalk and Feishu: payloads, signatures, mentions."""

    def test_04_payloads_signatures_mentions(self):
        sink = self.make_sink()
        secrets = os.path.join(self.tmp, "creds")
        os.mkdir(secrets)
        for n in ("generic", "dingtalk", "feishu"):
            with open(os.path.join(secrets, n + ".secret"), "w", encoding="utf-8") as f:
                f.write(SECRET + "-" + n + "\n")
        with open(os.path.join(self.tmp, "wecom.url"), "w") as f:
            f.write(sink.url("/wecom/send?key=abc-123") + "\n")
        # ub's generic webhook answers 400: dead at once, and the admins'
        # Feishu robot is told.
        sink.script("/generic/ub", [{"status": 400, "body": "no such hook"}])
        conf = self.plan("""
  webhooks = (
    { name = "gen-ua"; type = "generic"; url = "%s"; secret_file = "generic.secret"; units = [ "ua" ]; },
    { name = "gen-ub"; type = "generic"; url = "%s"; units = [ "ub" ]; },
    { name = "wecom"; type = "wecom"; url_file = "wecom.url"; units = [ "*" ]; },
    { name = "wecom-md"; type = "wecom"; url = "%s"; format = "markdown"; units = [ "ua" ]; },
    { name = "ding"; type = "dingtalk"; url = "%s"; secret_file = "dingtalk.secret";
      departments = [ "*" ]; },
    { name = "feishu"; type = "feishu"; url = "%s"; secret_file = "feishu.secret"; admins = true; }
  );""" % (sink.url("/generic/ua"), sink.url("/generic/ub"), sink.url("/wecom/md?key=m"),
           sink.url("/dingtalk/robot/send?access_token=tok"), sink.url("/feishu/hook/abc")),
                         due_in=4, due2_in=4, close="60s")
        self.start(conf, creds=secrets)
        self.wait(lambda: [r for r in sink.got("/feishu/hook/abc") if b"#" in r["body"]]
                  and len(sink.got("/dingtalk/robot/send")) >= 2, 20, "deliveries")

        with self.subTest("generic: JSON, delivery id, timestamp and HMAC signature"):
            reqs = sink.got("/generic/ua")
            self.assertGreaterEqual(len(reqs), 1)
            for r in reqs:
                h, body = r["headers"], r["body"]
                p = json.loads(body)
                self.assertEqual(h["x-kaohe-delivery"], str(p["delivery"]))
                ts = h["x-kaohe-timestamp"]
                self.assertLessEqual(abs(int(ts) - time.time()), 30)
                want = "sha256=" + hmac.new((SECRET + "-generic").encode(),
                                            ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                self.assertEqual(h["x-kaohe-signature"], want)
                self.assertTrue(h["content-type"].startswith("application/json"))
                self.assertEqual(p["unit"]["id"], "ua")
                self.assertIn(p["kind"], ("before", "overdue"))
                occ = {i["occurrence"]: i for i in p["items"]}
                self.assertEqual(set(occ), {"1", "2"})
                self.assertEqual(occ["2"]["late"], 0.5)
                self.assertEqual(occ["1"]["missing"], 3)
                self.assertEqual(dt.datetime.fromisoformat(occ["1"]["deadline"]), self.due1)
                self.assertIn("报送材料一", p["text"])
            self.assertNotIn("x-kaohe-signature", sink.got("/generic/ub")[0]["headers"],
                             "no secret, no signature")

        with self.subTest("WeCom: text with mentioned_mobile_list, markdown"):
            reqs = sink.got("/wecom/send")
            self.assertTrue(all(r["query"] == {"key": "abc-123"} for r in reqs))
            mentioned = set()
            for r in reqs:
                p = json.loads(r["body"])
                self.assertEqual(p["msgtype"], "text")
                c = p["text"]["content"]
                self.assertLessEqual(len(c.encode()), 2048)
                mentioned.update(p["text"]["mentioned_mobile_list"])
            # one robot for both units: each instant's post names both liaisons
            self.assertIn(MOBILE % 1, mentioned)       # ua's liaison
            self.assertIn(MOBILE % 2, mentioned)       # ub's liaison
            md = json.loads(sink.got("/wecom/md")[0]["body"])
            self.assertEqual(md["msgtype"], "markdown")
            self.assertLessEqual(len(md["markdown"]["content"].encode()), 4096)
            self.assertIn(MOBILE % 1, md["markdown"]["content"])

        with self.subTest("DingTalk: timestamp and sign, at.atMobiles"):
            reqs = sink.got("/dingtalk/robot/send")
            for r in reqs:
                q = r["query"]
                self.assertEqual(q["access_token"], "tok")
                self.assertLessEqual(abs(int(q["timestamp"]) / 1000 - time.time()), 30)
                sec = SECRET + "-dingtalk"
                self.assertEqual(q["sign"], hmac_b64(sec, q["timestamp"] + "\n" + sec))
                p = json.loads(r["body"])
                self.assertEqual(p["msgtype"], "text")
            # the escalation copies go to the offices' robot; da's office has a mobile
            texts = [json.loads(r["body"]) for r in reqs]
            da = [p for p in texts if "报送材料一" in p["text"]["content"]]
            self.assertTrue(da, texts)
            self.assertEqual(da[0]["at"]["atMobiles"], ["13900000001"])
            self.assertIn("@13900000001", da[0]["text"]["content"])

        with self.subTest("Feishu: timestamp and sign in the body (Feishu's documented form)"):
            r = [r for r in sink.got("/feishu/hook/abc") if b"#" in r["body"]][0]
            p = json.loads(r["body"])
            sec = SECRET + "-feishu"
            key = p["timestamp"] + "\n" + sec
            self.assertEqual(p["sign"], base64.b64encode(
                hmac.new(key.encode(), b"", hashlib.sha256).digest()).decode())
            self.assertLessEqual(abs(int(p["timestamp"]) - time.time()), 30)
            self.assertEqual(p["msg_type"], "text")
            dead = self.outbox("dead")["rows"]
            self.assertEqual(len(dead), 1, dead)
            self.assertEqual((dead[0]["channel"], dead[0]["code"], dead[0]["attempts"]),
                             ("gen-ub", 400, 1))
            self.assertIn("#%d" % dead[0]["id"], p["content"]["text"])

        with self.subTest("every request carries its delivery id; none went twice"):
            ids = [r["headers"]["x-kaohe-delivery"] for r in sink.got()]
            self.assertEqual(len(ids), len(set(ids)) + 0, ids)


class TestRetries(DeliverTestCase):
    """Backoff, Retry-After, provider error codes, timeouts, dead, retry."""

    def test_05_backoff_retry_after_and_dead(self):
        sink = self.make_sink()
        sink.script("/generic/ua", [{"status": 500}, {"status": 429, "headers": {"Retry-After": "2"}},
                                    {"status": 204}])
        sink.script("/generic/ub", [{"status": 503}] * 3)
        sink.script("/wecom/ua", [{"status": 200, "body": {"errcode": -1, "errmsg": "system busy"}}])
        sink.script("/wecom/ub", [{"status": 200, "body": {"errcode": 93000, "errmsg": "invalid webhook url"}}])
        sink.script("/dingtalk/ua", [{"status": 200, "body": {"errcode": 130101, "errmsg": "send too fast"}}])
        sink.script("/dingtalk/ub", [{"status": 200, "body": {"errcode": 310000, "errmsg": "sign not match"}}])
        sink.script("/feishu/ua", [{"hang": True}])
        sink.script("/feishu/ub", [{"status": 200, "body": {"code": 9499, "msg": "too many request"}}])
        hooks = []
        for typ in ("generic", "wecom", "dingtalk", "feishu"):
            for u in ("ua", "ub"):
                hooks.append('{ name = "%s-%s"; type = "%s"; url = "%s"; units = [ "%s" ]; rate = [ ]; }'
                             % (typ, u, typ, sink.url("/%s/%s" % (typ, u)), u))
        conf = self.plan("""
  webhooks = ( %s );
  timeout = "10s";  # a hung answer: long, as a loaded machine (chromium in a parallel test) can keep the sink from answering for seconds
  retry = { first = "300ms"; factor = 2.0; cap = "2s"; jitter = 0.0; max_attempts = 3; max_age = "1h"; };"""
                         % ",\n    ".join(hooks), due_in=8, due2_in=600,
                         close="60s")  # the retry of a hung answer comes before close
        # (due in 8 s: the before reminders are what is counted, so the
        # daemon must be up before the overdue slot, 9 s from now)
        d = self.start(conf)

        def state(channel):
            rows = [r for r in self.outbox()["rows"] if r["channel"] == channel and r["kind"] == "before"]
            return rows[0] if rows else None
        self.wait(lambda: all(state(c) and state(c)["state"] in ("sent", "dead")
                              for c in ("generic-ua", "generic-ub", "wecom-ua", "wecom-ub",
                                        "dingtalk-ub", "feishu-ua"))
                  and state("feishu-ub") and state("feishu-ub")["attempts"] == 1
                  and state("dingtalk-ua") and state("dingtalk-ua")["attempts"] == 1,
                  40, "retries to end")

        # The times of one delivery's requests (the overdue notices of the
        # same channels come meanwhile).
        def times(path, row):
            return [r["t"] for r in sink.got(path)
                    if r["headers"]["x-kaohe-delivery"] == str(row["id"])]
        g = state("generic-ua")
        self.assertEqual((g["state"], g["attempts"]), ("sent", 3), g)
        t = times("/generic/ua", g)
        self.assertEqual(len(t), 3)
        self.assertGreaterEqual(t[1] - t[0], 0.25, "the first delay (300 ms)")
        self.assertGreaterEqual(t[2] - t[1], 1.9, "Retry-After: 2 is honoured")
        ub = state("generic-ub")
        self.assertEqual((ub["state"], ub["attempts"], ub["code"]), ("dead", 3, 503), ub)
        t = times("/generic/ub", ub)
        # (on a loaded machine an attempt may fail on the way, never reaching
        # the server: it still counts, and the last gap is still >= 600 ms)
        log = "\n".join(l for l in d.log().splitlines() if "generic-ub" in l)
        self.assertGreaterEqual(len(t), 2, log)
        self.assertGreaterEqual(t[-1] - t[-2], 0.55, "the second delay doubles (600 ms)\n" + log)
        self.assertEqual((state("wecom-ua")["state"], state("wecom-ua")["attempts"]), ("sent", 2),
                         "WeCom errcode -1 is retried")
        w = state("wecom-ub")
        self.assertEqual((w["state"], w["attempts"], w["code"]), ("dead", 1, 93000), w)
        self.assertIn("invalid webhook url", w["error"])
        dk = state("dingtalk-ua")
        self.assertEqual(dk["state"], "failed", dk)
        self.assertEqual(dk["code"], 130101)
        # the next attempt, counted from the answer that asked to wait
        def after_answer(path, row):
            return dt.datetime.fromisoformat(row["next"]).timestamp() - times(path, row)[-1]
        self.assertGreaterEqual(after_answer("/dingtalk/ua", dk), 598,
                                "130101: retried after the 10-minute block")
        self.assertEqual((state("dingtalk-ub")["state"], state("dingtalk-ub")["code"]), ("dead", 310000))
        f = state("feishu-ua")
        self.assertEqual((f["state"], f["attempts"]), ("sent", 2), "a timed-out request is retried")
        f = state("feishu-ub")
        self.assertEqual((f["state"], f["code"]), ("failed", 9499), "Feishu 9499 is retried")
        self.assertGreaterEqual(after_answer("/feishu/ub", f), 58, "after Feishu's minute")
        with self.subTest("an endpoint that asked to wait gets nothing meanwhile"):
            later = [r for r in self.outbox()["rows"] if r["channel"] == "dingtalk-ua" and r["kind"] != "before"]
            self.assertTrue(all(r["state"] == "pending" for r in later), later)
            self.assertEqual(len(sink.got("/dingtalk/ua")), 1)
        d.wait_log(r"#%d to generic-ub is dead after 3 attempts" % ub["id"])

        with self.subTest("kaohectl outbox and retry"):
            dead = self.outbox("dead")["rows"]
            self.assertEqual({r["channel"] for r in dead}, {"generic-ub", "wecom-ub", "dingtalk-ub"})
            self.refused("usage", "outbox", "bogus")
            self.refused("usage", "retry", "abc")
            self.refused("unknown-delivery", "retry", "999999")
            self.refused("bad-state", "retry", str(g["id"]))
            # (the overdue notices of the same channel come and go meanwhile:
            # count this delivery's requests only)
            def of_ub():
                return [r for r in sink.got("/generic/ub")
                        if r["headers"]["x-kaohe-delivery"] == str(ub["id"])]
            n = len(of_ub())
            self.assertGreaterEqual(n, 2)
            self.assertEqual(self.ok("retry", str(ub["id"]))["state"], "pending")
            wait_until(lambda: state("generic-ub")["state"] == "sent", 10, what="the retried delivery")
            self.assertEqual(len(of_ub()), n + 1)
            audit = [a["command"] for a in self.ok("audit", "10")]
            self.assertIn("retry %d" % ub["id"], audit)
            table = self.ctl("outbox", "sent", json_out=False)
            self.assertEqual(table.returncode, 0)
            self.assertIn("generic-ub", table.stdout.decode())

    def test_06_submission_cancels_a_waiting_retry(self):
        sink = self.make_sink()
        sink.script("/generic/ua", [{"status": 500}])
        # The submission must come within the 8 s before the retry, and no
        # overdue notice may come meanwhile.
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; } );
  retry = { first = "8s"; jitter = 0.0; };""" % sink.url("/generic/ua"),
                         units=("ua",), due_in=4, due2_in=600, reminders=BEFORE_ONLY,
                         close="600s")   # the submission cancels it, not the close
        self.start(conf)
        row = self.wait_states(1, "failed")
        row = [r for r in row if r["state"] == "failed"][0]
        self.assertEqual(row["code"], 500, "the sink's scripted answer: %s" % row)
        self.assertEqual(row["about"], "1")       # row 2 is not due for a while: only row 1
        self.ok("submit", "ua", "1")
        wait_until(lambda: [r for r in self.outbox()["rows"] if r["id"] == row["id"]][0]["state"]
                   == "cancelled", 30, what="the waiting retry to be cancelled")
        self.assertEqual(len(sink.got("/generic/ua")), 1, "nothing more reached the unit")


    def test_10_a_cancelled_claim_strands_nothing(self):
        """Both units' reminders fail; ua submits; its retry is cancelled
        when it comes due, and ub's, due just after, still goes."""
        sink = self.make_sink()
        sink.script("/generic/all", [{"status": 500}, {"status": 500}])
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; } );
  concurrency = 1;
  retry = { first = "8s"; jitter = 0.0; };""" % sink.url("/generic/all"), due_in=4, due2_in=600,
                         reminders=BEFORE_ONLY, close="600s")
        self.start(conf)
        self.wait_states(2, "failed")
        self.ok("submit", "ua", "1")
        self.wait(lambda: {r["unit"]: r["state"] for r in self.outbox()["rows"]}
                  == {"ua": "cancelled", "ub": "sent"}, 30, "ua cancelled and ub sent")
        self.assertEqual(len(sink.got("/generic/all")), 3)


class TestProviderWaits(DeliverTestCase):
    """A provider's wait: capped at an hour, lifted by retry and by reload,
    and never in the way of the admins' notice of a dead delivery."""

    LONG = {"status": 429, "headers": {"Retry-After": "999999999"}}

    def next_after_answer(self, path, row):
        """Seconds from the sink's last answer to ROW to its next attempt."""
        t = [r["t"] for r in self.sink.got(path)
             if r["headers"]["x-kaohe-delivery"] == str(row["id"])]
        return dt.datetime.fromisoformat(row["next"]).timestamp() - t[-1]

    def rows(self, channel, kind=None):
        return [r for r in self.outbox()["rows"]
                if r["channel"] == channel and (kind is None or r["kind"] == kind)]

    def test_11_a_long_retry_after_waits_an_hour_and_retry_lifts_it(self):
        sink = self.make_sink()
        sink.script("/generic/ua", [self.LONG])
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; } );"""
                         % sink.url("/generic/ua"), units=("ua",), due_in=8, due2_in=600,
                         close="600s")
        d = self.start(conf)
        row = self.wait(lambda: [r for r in self.rows("gen", "before") if r["state"] != "pending"
                                 and r["state"] != "inflight"], 20, "the first answer")[0]
        self.assertEqual((row["state"], row["code"], row["attempts"]), ("failed", 429, 1),
                         "a Retry-After of 999999999 s is an hour's wait, not a death: %s" % row)
        wait = self.next_after_answer("/generic/ua", row)
        self.assertGreater(wait, 3600 - 30, row)
        self.assertLess(wait, 3600 + 30, row)
        d.wait_log(r"gen asked to wait 3600 s")
        # the overdue notice comes meanwhile, and waits behind the endpoint's hour
        self.wait(lambda: self.rows("gen", "overdue"), 20, "the overdue notice")
        self.assertEqual([r["state"] for r in self.rows("gen", "overdue")], ["pending"])
        self.assertEqual(len(sink.got("/generic/ua")), 1)

        # kaohectl retry sends it now, and what waited behind it follows
        self.assertEqual(self.ok("retry", str(row["id"]))["state"], "pending")
        self.wait(lambda: {r["kind"]: r["state"] for r in self.rows("gen")}
                  == {"before": "sent", "overdue": "sent"}, 20, "both sent after the retry")
        d.wait_log(r"gen may be tried again: its wait is lifted")

    def test_12_reload_lifts_every_wait(self):
        sink = self.make_sink()
        sink.script("/generic/ua", [{"status": 503, "headers": {"Retry-After": "3000"}}])
        sink.script("/dingtalk/ub", [{"status": 200,
                                      "body": {"errcode": 130101, "errmsg": "send too fast"}}])
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "ua" ]; },
               { name = "ding"; type = "dingtalk"; url = "%s"; units = [ "ub" ]; } );"""
                         % (sink.url("/generic/ua"), sink.url("/dingtalk/ub")), due_in=8,
                         due2_in=600, close="600s")
        d = self.start(conf)
        self.wait(lambda: all(r["state"] == "failed" for r in self.rows("gen", "before")
                              + self.rows("ding", "before"))
                  and len(self.rows("gen", "before") + self.rows("ding", "before")) == 2,
                  20, "both endpoints to ask for a wait")
        for ch, path, wait in (("gen", "/generic/ua", 3000), ("ding", "/dingtalk/ub", 600)):
            r = self.rows(ch, "before")[0]
            self.assertGreater(self.next_after_answer(path, r), wait - 30, r)
        self.wait(lambda: len([r for r in self.rows("gen", "overdue") + self.rows("ding", "overdue")
                               if r["state"] == "pending"]) == 2, 20, "the overdue notices waiting")
        self.ok("reload")
        self.wait(lambda: [r["state"] for r in self.rows("gen", "overdue") + self.rows("ding", "overdue")]
                  == ["sent", "sent"], 20, "the overdue notices sent after the reload")
        # the rows that were answered keep their own next attempt
        self.assertEqual([r["state"] for r in self.rows("gen", "before") + self.rows("ding", "before")],
                         ["failed", "failed"])
        d.wait_log(r"gen may be tried again")
        d.wait_log(r"ding may be tried again")

    def test_13_a_dead_notice_does_not_queue_behind_the_wait_it_reports(self):
        """The admins' own robot is the endpoint that asked to wait: their
        notice of the delivery that died there goes by their other robot at
        once, and none waits behind the block."""
        sink = self.make_sink()
        # (the first request may be the before reminder or, when the year
        # has a snapshot already, the admins' notice of it: either dies)
        sink.script("/generic/ops", [self.LONG])
        conf = self.plan("""
  webhooks = ( { name = "ops"; type = "generic"; url = "%s"; units = [ "*" ]; admins = true; },
               { name = "duty"; type = "generic"; url = "%s"; admins = true; } );
  retry = { max_attempts = 1; };""" % (sink.url("/generic/ops"), sink.url("/generic/duty")),
                         units=("ua",), due_in=4, due2_in=600, close="600s")
        d = self.start(conf)
        dead = self.wait(lambda: [r for r in self.rows("ops") if r["state"] == "dead"],
                         20, "the delivery to die")[0]
        self.assertEqual(dead["code"], 429)
        notice = self.wait(lambda: [r for r in sink.got("/generic/duty")
                                    if json.loads(r["body"])["kind"] == "dead"], 20,
                           "the admins' notice on their other robot")
        self.assertIn("#%d" % dead["id"], json.loads(notice[0]["body"])["text"])
        d.wait_log(r"the admins' notice of dead #%d leaves out 1 channel waiting" % dead["id"])
        self.assertEqual(self.rows("ops", "dead"), [], "no notice queued behind the block")


class TestResets(DeliverTestCase):

    def test_14_connections_reset_mid_request_and_mid_response(self):
        """A server that resets the connection (a RST, not a FIN) after
        reading half of a request, or after writing part of its answer:
        each delivery is tried again, with the same X-Kaohe-Delivery, and
        ends sent."""
        sink = self.make_sink()
        sink.script("/generic/req", [{"reset": "request"}])
        sink.script("/generic/resp", [{"reset": "response"}])
        conf = self.plan("""
  webhooks = ( { name = "req"; type = "generic"; url = "%s"; units = [ "ua" ]; },
               { name = "resp"; type = "generic"; url = "%s"; units = [ "ub" ]; } );
  retry = { first = "300ms"; jitter = 0.0; };""" % (sink.url("/generic/req"), sink.url("/generic/resp")),
                         due_in=4, due2_in=600, reminders=BEFORE_ONLY)
        d = self.start(conf)
        self.wait(lambda: sorted(r["state"] for r in self.outbox()["rows"]) == ["sent", "sent"],
                  20, "both deliveries sent")
        for r in self.outbox()["rows"]:
            path = "/generic/" + r["channel"]
            got = sink.got(path)
            self.assertEqual([g["reset"] for g in got], [r["channel"] == "req" and "request"
                                                         or "response", None], got)
            self.assertEqual({g["headers"]["x-kaohe-delivery"] for g in got}, {str(r["id"])})
            self.assertGreaterEqual(r["attempts"], 2, r)
            d.wait_log(r"#%d to %s failed \(attempt 1, .*reset" % (r["id"], r["channel"]))


class TestServers(unittest.TestCase):
    """The test servers themselves: a stopped one answers nobody."""

    # accept4's number, by machine: what /proc/…/syscall shows while blocked in it
    ACCEPT4 = {"x86_64": 288, "aarch64": 242}

    def test_15_a_stopped_server_steals_no_later_connection(self):
        """A thread blocked in accept() on a socket that is only closed
        keeps the descriptor's number; a stop and continue of the process
        (a frozen cgroup does the same) restarts its call on whatever
        socket has that number by then. That is how an SMTP greeting once
        answered a webhook request of a later test ("Received HTTP/0.9 when
        not allowed"). A stopped PlainSMTP has no thread left to do it."""
        import platform
        import socket
        import subprocess
        if platform.machine() not in self.ACCEPT4:
            self.skipTest("accept4's number on %s is not known here" % platform.machine())
        plain = servers.PlainSMTP()
        try:
            # one session, and then its thread is back in accept()
            with socket.create_connection(("127.0.0.1", plain.port), 10) as c:
                f = c.makefile("rwb")
                self.assertEqual(f.readline(), b"220 plain ESMTP\r\n")
                f.write(b"QUIT\r\n")
                f.flush()
                self.assertEqual(f.readline(), b"221 bye\r\n")
                f.close()
            task = "/proc/self/task/%d/syscall" % plain.thread.native_id

            def in_accept():
                with open(task) as t:
                    return t.read().split()[0] == str(self.ACCEPT4[platform.machine()])
            wait_until(in_accept, 10, what="the server's thread back in accept()")
            old = plain.sock.fileno()
        finally:
            plain.stop()
        self.assertFalse(plain.thread.is_alive(), "the server's thread outlived stop()")
        # another server, listening on the very descriptor number, and a
        # client already waiting in its queue
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        if other.fileno() != old:
            os.dup2(other.fileno(), old)
            other.close()
            other = socket.socket(fileno=old)
        self.addCleanup(other.close)
        client = socket.create_connection(other.getsockname(), 10)
        self.addCleanup(client.close)
        # stopped and continued: a call blocked in another thread is restarted
        pid = os.getpid()
        subprocess.run(["sh", "-c", "kill -STOP %d; until grep -q '^State:.*T' /proc/%d/status; do :; "
                        "done; kill -CONT %d" % (pid, pid, pid)], check=True, timeout=30)
        other.settimeout(10)
        try:
            a, _ = other.accept()
        except socket.timeout:
            self.fail("a thread of the stopped server took the next server's connection")
        a.close()


class TestRateLimit(DeliverTestCase):

    def test_07_rate_limit_spaces_and_never_drops(self):
        """9 units through "2/s": their sends take 4 s, 2 a second. The sink
        sees each when it has read it, late by as much as the machine's
        load: the check allows half a second of that (the exact window
        arithmetic is the unit tests', on virtual time). (A generic webhook:
        a chat robot would hear of the 9 units in one post.)"""
        sink = self.make_sink()
        units = unit_ids(9)
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; rate = [ "2/s" ]; } );"""
                         % sink.url("/wecom/all"), units=units, due_in=4, due2_in=600,
                         reminders=BEFORE_ONLY)
        self.start(conf)
        wait_until(lambda: len(sink.got("/wecom/all")) >= 9, 40, what="9 deliveries")
        t = sorted(r["t"] for r in sink.got("/wecom/all"))
        spread = [round(x - t[0], 3) for x in t]
        self.assertGreaterEqual(t[-1] - t[0], 3.5, "9 sends at 2/s take 4 s: %r" % spread)
        for i in range(2, len(t)):
            self.assertGreaterEqual(t[i] - t[i - 2], 0.5,
                                    "a third send comes a second after the first: %r" % spread)
        mentioned = sorted(json.loads(r["body"])["mentions"][0]
                           for r in sink.got("/wecom/all"))
        self.assertEqual(mentioned, [MOBILE % i for i in range(1, 10)], "every unit, none dropped")


class TestCrash(DeliverTestCase):

    def test_08_kill9_in_a_burst(self):
        """Every reminder arrives at least once; a duplicate only for what was
        in flight, with the same X-Kaohe-Delivery id."""
        sink = self.make_sink()
        # From the 61st request on, the sink answers none: the daemon is
        # killed with its 8 requests in flight, however fast or slow it runs.
        sink.hold(60)
        n = 300
        conf = self.plan("""
  webhooks = ( { name = "gen"; type = "generic"; url = "%s"; units = [ "*" ]; } );
  concurrency = 8;""" % sink.url("/generic/all"), units=unit_ids(n), due_in=5, due2_in=600,
                         reminders=BEFORE_ONLY)
        d = self.start(conf)
        wait_until(lambda: len(sink.got()) >= 61, 30, what="the burst to begin")
        d.kill9()
        before = len(sink.got())
        self.assertLess(before, n, "killed in the middle of the burst")
        sink.release()
        d.start()
        wait_until(lambda: len({json.loads(r["body"])["unit"]["id"] for r in sink.got()}) >= n, 60,
                   what="every unit's reminder after the restart")
        time.sleep(0.3)   # not a deadline: a window for anything sent twice to show
        per_unit = {}
        for r in sink.got():
            p = json.loads(r["body"])
            per_unit.setdefault(p["unit"]["id"], []).append(r["headers"]["x-kaohe-delivery"])
        self.assertEqual(set(per_unit), set(unit_ids(n)))
        dups = {u: ids for u, ids in per_unit.items() if len(ids) > 1}
        for u, ids in dups.items():
            self.assertEqual(len(set(ids)), 1, "a duplicate carries the same delivery id: %s %s" % (u, ids))
        # at most what was in flight (8) when it died, and those answered but
        # not yet recorded (one turn of the loop)
        self.assertLessEqual(len(dups), 16, dups)
        counts = self.outbox()["counts"]
        self.assertEqual(counts["sent"], n, counts)
        self.assertEqual(counts["pending"] + counts["inflight"] + counts["failed"], 0, counts)


class TestConfig(DeliverTestCase):

    def test_09_bad_channel_configuration(self):
        conf = self.plan("""
  email = { url = "http://127.0.0.1:25"; from = "not an address"; user = "u"; password_file = "missing.pw"; };
  webhooks = (
    { name = "a"; type = "slack"; url = "https://example.org/x"; units = [ "nobody" ]; },
    { name = "a"; type = "wecom"; url = "ftp://x"; secret_file = "missing.secret"; rate = [ "lots" ]; }
  );
  retry = { first = "soon"; factor = 0.5; };""", due_in=600)
        import subprocess
        p = subprocess.run([harness.KAOHED, "-c", conf, "--check"], capture_output=True, timeout=10,
                           env=harness.utf8_env())
        err = p.stderr.decode() + p.stdout.decode()
        self.assertEqual(p.returncode, 1, err)
        for want in (r'channels.email: url must begin with smtp://',
                     r'channels.email: from "not an address" is not an address',
                     r'channels.email: cannot read .*missing.pw',
                     r'type "slack" is not one of generic, wecom, dingtalk, feishu',
                     r'unknown unit "nobody"',
                     r'a second webhook named "a"',
                     r'url must begin with https://',
                     r'cannot read .*missing.secret',
                     r'rate "lots" is not a limit',
                     r'channels.retry: first "soon" is not a duration',
                     r'"factor" must be from 1 to 100'):
            self.assertRegex(err, r"kaohe\.conf:\d+: .*" + want)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
