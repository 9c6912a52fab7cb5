"""Real servers on 127.0.0.1 for the delivery tests: an SMTP server (Debian's
aiosmtpd, with STARTTLS required or TLS from the start, and AUTH), a
throw-away certificate authority made with the openssl command, and an HTTP
sink that answers as a webhook provider would (generic, WeCom, DingTalk,
Feishu), or as scripted: errcode bodies, 429 with Retry-After, 500s, and
answers that never come.

Run with /usr/bin/python3 (Debian's, which has python3-aiosmtpd).
"""

import http.server
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


# ------------------------------------------------------------ certificates

def make_ca(tmp):
    """A CA and a server certificate for 127.0.0.1 / localhost.

    Returns (ca_file, cert_file, key_file)."""
    ca_key, ca_crt = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, crt = (os.path.join(tmp, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(tmp, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=kaohe test CA", "-keyout", ca_key, "-out", ca_crt)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", key, "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    return ca_crt, crt, key


# -------------------------------------------------------------------- SMTP

class _Handler:
    def __init__(self, box):
        self.box = box

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "@reject." in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                     session.authenticated,
                     session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None)
        return "250 Message accepted for delivery"


class Mailbox:
    """Every message received: dicts with from, to, data (bytes), auth, tls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []

    def add(self, mail_from, rcpt, data, auth, tls):
        with self.lock:
            self.messages.append({"from": mail_from, "to": rcpt, "data": data, "auth": auth,
                                  "tls": tls, "t": time.time()})

    def all(self):
        with self.lock:
            return list(self.messages)


class SMTPServer:
    """aiosmtpd on 127.0.0.1: mode "starttls" (required) or "smtps" (TLS from the start)."""

    def __init__(self, cert, key, mode="starttls", user="kaohe", password="s3cret"):
        self.box = Mailbox()
        self.user, self.password = user.encode(), password.encode()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kw = dict(hostname="127.0.0.1", port=0, authenticator=self._auth, auth_required=True,
                  auth_require_tls=True)
        if mode == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        else:
            # The whole connection is TLS: aiosmtpd only counts STARTTLS as such.
            kw.update(ssl_context=ctx, auth_require_tls=False)
        # port=0 is not supported by every aiosmtpd: pick a free port.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        kw["port"] = s.getsockname()[1]
        s.close()
        self.port = kw["port"]
        self.controller = Controller(_Handler(self.box), **kw)
        self.mode = mode
        self._start()

    def _start(self):
        if self.mode == "smtps":
            # Controller's own readiness probe would wrap its socket in the
            # server's context: probe with a client one instead.
            def trigger(port=self.port):
                import socket
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                with socket.create_connection(("127.0.0.1", port), 1.0) as raw:
                    with ctx.wrap_socket(raw) as s:
                        s.recv(1024)
            self.controller._trigger_server = trigger
        self.controller.start()

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = (getattr(auth_data, "login", None) == self.user and
              getattr(auth_data, "password", None) == self.password)
        return AuthResult(success=ok)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("smtp" if self.mode == "starttls" else "smtps", self.port)

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass


# -------------------------------------------------------------------- HTTP

OK_BODIES = {
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (200, {"code": 0, "msg": "success", "data": {}}),
}


class Sink:
    """An HTTP server on 127.0.0.1 recording every request.

    The first path segment names the provider whose successful answer is the
    default (/wecom/…, /dingtalk/…, /feishu/…; anything else: 204).
    script(path, answers) queues answers for a path: dicts with status,
    body (dict or str), headers, and hang=True for an answer that never
    comes (until stop())."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.scripts = {}
        self.delay = 0.0
        self.stopping = threading.Event()
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                u = urllib.parse.urlsplit(self.path)
                rec = {"path": u.path, "query": dict(urllib.parse.parse_qsl(u.query)),
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "t": time.time()}
                with sink.lock:
                    sink.requests.append(rec)
                    q = sink.scripts.get(u.path)
                    answer = q.pop(0) if q else None
                if answer and answer.get("hang"):
                    sink.stopping.wait(30)
                    return
                if sink.delay:
                    time.sleep(sink.delay)
                if answer is None:
                    prov = u.path.strip("/").split("/")[0]
                    status, b = OK_BODIES.get(prov, (204, None))
                    answer = {"status": status, "body": b}
                b = answer.get("body")
                data = (json.dumps(b) if isinstance(b, (dict, list)) else (b or "")).encode()
                self.send_response(answer.get("status", 200))
                for k, v in answer.get("headers", {}).items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024   # a burst of connects: no SYN dropped

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def script(self, path, answers):
        with self.lock:
            self.scripts.setdefault(path, []).extend(answers)

    def got(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
