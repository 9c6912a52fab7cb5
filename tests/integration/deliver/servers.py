"""Real servers on 127.0.0.1 for the delivery tests: an SMTP server (Debian's
aiosmtpd, with STARTTLS required or TLS from the start, and AUTH), a
throw-away certificate authority made with the openssl command, and an HTTP
sink that answers as a webhook provider would (generic, WeCom, DingTalk,
Feishu), or as scripted: errcode bodies, 429 with Retry-After, 500s,
answers that never come, and connections reset (SO_LINGER 0, then close)
in the middle of a request or of an answer.

Run with /usr/bin/python3 (Debian's, which has python3-aiosmtpd).
"""

import fcntl
import http.server
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import termios
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
        # handled=False: aiosmtpd then answers a refusal (535) itself; its
        # default, True, leaves the client waiting for an answer that never comes.
        return AuthResult(success=ok, handled=False)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("smtp" if self.mode == "starttls" else "smtps", self.port)

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass


class PlainSMTP:
    """An SMTP server on 127.0.0.1 that offers no STARTTLS: it greets, says
    250 to every line (AUTH PLAIN offered) and records what it was sent
    (lines, in SEEN).

    stop() ends it the only safe way: shut the sockets down, join the
    thread, and only then close. A close() alone does not wake an accept()
    blocked in another thread; that thread keeps the descriptor's number,
    and when the kernel restarts its call (a stopped and continued
    process, a frozen cgroup) it accepts from whatever socket has the
    number by then: the next test's webhook sink, whose HTTP requests it
    answers with an SMTP greeting (libcurl: "Received HTTP/0.9 when not
    allowed")."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()
        self.conns = []
        self.stopping = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping:
                    c.close()
                    return
                self.conns.append(c)
            try:
                self._session(c)
            except OSError:
                pass
            finally:
                with self.lock:
                    self.conns.remove(c)
                c.close()

    def _session(self, c):
        with c.makefile("rwb") as f:
            f.write(b"220 plain ESMTP\r\n")
            f.flush()
            for line in f:
                self.seen.append(line)
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    f.write(b"250-plain\r\n250 AUTH PLAIN\r\n")
                elif cmd.startswith(b"QUIT"):
                    f.write(b"221 bye\r\n")
                    f.flush()
                    return
                else:
                    f.write(b"250 ok\r\n")
                f.flush()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def stop(self):
        with self.lock:
            self.stopping = True
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass        # the client went first
        # a listening socket shut down makes the blocked accept() return
        self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        assert not self.thread.is_alive(), "the plain SMTP server did not stop"
        self.sock.close()


# -------------------------------------------------------------------- HTTP

OK_BODIES = {
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (200, {"code": 0, "msg": "success", "data": {}}),
}


class _Reset(Exception):
    """The handler reset its connection: nothing more is read or written on it."""


def reset(conn):
    """Abort CONN: SO_LINGER 0 makes the close send a RST, not a FIN. The
    descriptor is detached first, so the request handler's files let go of
    it and cannot close a descriptor number another thread reuses."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(conn.detach())


def wait_acked(conn, timeout=10.0):
    """Wait until the peer's kernel has acknowledged everything written on
    CONN (the send queue is empty), so a reset cannot discard it unsent."""
    end = time.monotonic() + timeout
    buf = bytearray(struct.calcsize("i"))
    while time.monotonic() < end:
        fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, buf)
        if struct.unpack("i", buf)[0] == 0:
            return
        time.sleep(0.01)


class Sink:
    """An HTTP server on 127.0.0.1 recording every request.

    The first path segment names the provider whose successful answer is the
    default (/wecom/…, /dingtalk/…, /feishu/…; anything else: 204).
    script(path, answers) queues answers for a path: dicts with status,
    body (dict or str), headers; hang=True for an answer that never comes
    (until stop()); reset="request" to reset the connection after reading
    half of the request's body, reset="response" to reset it after writing
    the status line and part of a header. A request that was reset is
    recorded with "reset" set to that word (else None).

    hold(after): every request after the first AFTER is recorded and then
    held unanswered until release()."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.scripts = {}
        self.stopping = threading.Event()
        self.held_after = None
        self.released = threading.Event()
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle(self):
                try:
                    super().handle()
                except _Reset:
                    pass

            def do_POST(self):
                u = urllib.parse.urlsplit(self.path)
                with sink.lock:
                    q = sink.scripts.get(u.path)
                    answer = q.pop(0) if q else None
                cut = answer.get("reset") if answer else None
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n // 2 if cut == "request" else n)
                rec = {"path": u.path, "query": dict(urllib.parse.parse_qsl(u.query)),
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "t": time.time(), "reset": cut}
                with sink.lock:
                    sink.requests.append(rec)
                    held = sink.held_after is not None and len(sink.requests) > sink.held_after
                if held:
                    sink.released.wait(60)
                if cut == "request":
                    reset(self.connection)
                    raise _Reset()
                if cut == "response":
                    self.wfile.write(b"HTTP/1.1 204 No Content\r\nContent-Le")
                    wait_acked(self.connection)
                    reset(self.connection)
                    raise _Reset()
                if answer and answer.get("hang"):
                    sink.stopping.wait(30)
                    return
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

            def handle_error(self, request, client_address):
                # a client killed or reset while it was answered: expected here
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hold(self, after):
        with self.lock:
            self.held_after = after

    def release(self):
        self.released.set()

    def script(self, path, answers):
        with self.lock:
            self.scripts.setdefault(path, []).extend(answers)

    def got(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def stop(self):
        self.stopping.set()
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
