"""A webhook receiver and an SMTP sink (aiosmtpd) for the notifications tests.

usage: sinks.py OUT SECRET
Writes one JSON line per request or mail received to OUT and checks each webhook's
WZT-Signature (HMAC-SHA256 over "t.body" with SECRET) on its own, with Python's hmac.
Prints "ready HTTP_PORT SMTP_PORT" and runs until its standard input closes.
POSTs to /broken are answered 503 (a receiver that is down); to /flaky, 500 twice per
notification, then as any other path (a receiver that recovers).
"""
import hashlib
import hmac
import json
import socket
import sys
import threading
from http.server import HTTPServer, BaseHTTPRequestHandler

from aiosmtpd.controller import Controller

out_path, secret = sys.argv[1], sys.argv[2].encode()
lock = threading.Lock()
flaky_failures = {}


def record(item):
    with lock, open(out_path, "a") as out:
        out.write(json.dumps(item) + "\n")


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/broken":
            record({"kind": "refused", "path": self.path})
            self.send_response(503)
            self.end_headers()
            return
        if self.path == "/flaky":
            notification = self.headers.get("WZT-Notification-Id")
            with lock:
                flaky_failures[notification] = flaky_failures.get(notification, 0) + 1
                failing = flaky_failures[notification] <= 2
            if failing:
                record({"kind": "refused", "path": self.path})
                self.send_response(500)
                self.end_headers()
                return
        fields = dict(part.split("=", 1) for part in self.headers.get("WZT-Signature", "").split(",") if "=" in part)
        expected = hmac.new(secret, fields.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, fields.get("v1", ""))
        record({"kind": "webhook", "path": self.path, "signatureValid": valid,
                "notificationId": self.headers.get("WZT-Notification-Id"), "body": body.decode("utf-8")})
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        record({"kind": "email", "from": envelope.mail_from, "to": envelope.rcpt_tos,
                "message": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


http = HTTPServer(("127.0.0.1", 0), Webhook)
threading.Thread(target=http.serve_forever, daemon=True).start()
smtp = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
smtp.start()
print(f"ready {http.server_address[1]} {smtp.port}", flush=True)
sys.stdin.read()
smtp.stop()
http.shutdown()
