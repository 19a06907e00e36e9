"""A small wzt ingress client written against docs/protocol.md with pyzmq only."""
import json
import subprocess
import time
import uuid

import zmq


def screening_requested(case_number, event_id=None):
    """A screening-requested envelope as an external intake system would send it."""
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "/agency/vdab/intake",
        "type": "be.wzt.intake.screening-requested",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "subject": f"case-{case_number}",
        "datacontenttype": "application/json",
        "dataversion": 1,
        "actor": "c-17",
        "actorrole": "vdab-counsellor",
        "actoragency": "vdab",
        "purpose": "activation-trajectory",
        "data": {
            "caseId": f"case-{case_number}",
            "insz": "85073003328",
            "region": "flanders",
            "requestedBy": "counsellor",
            "requestedOn": "2026-11-23",
            "office": "Gent",
            "counsellorId": "c-17",
        },
    }


class Publisher:
    """Keeps up to `window` events in flight; on silence reconnects and resends (Lazy Pirate)."""

    def __init__(self, endpoint, window=64, timeout_ms=1000, curve=None, group_acks=False):
        """`curve`: (server public key, client public key, client secret key), Z85 text, for a node with CURVE.
        `group_acks`: ask for the acks of one commit in one reply."""
        self.endpoint = endpoint
        self.window = window
        self.header = [b"group-acks"] if group_acks else []
        self.reply_messages = 0
        self.timeout_ms = timeout_ms
        self.curve = curve
        self.context = zmq.Context.instance()
        self.socket = None
        self.connect()

    def connect(self):
        if self.socket is not None:
            self.socket.close(linger=0)
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if self.curve:
            self.socket.curve_serverkey, self.socket.curve_publickey, self.socket.curve_secretkey = (key.encode() for key in self.curve)
        self.socket.connect(self.endpoint)

    def publish(self, envelopes, on_reply=lambda envelope, reply: None, deadline_s=120):
        pending = {e["id"]: e for e in envelopes}
        queue = list(envelopes)
        in_flight = {}
        replies = {}
        give_up = time.time() + deadline_s
        while pending and time.time() < give_up:
            while queue and len(in_flight) < self.window:
                envelope = queue.pop(0)
                self.send(envelope)
                in_flight[envelope["id"]] = envelope
            if self.socket.poll(self.timeout_ms) == 0:
                self.connect()
                for envelope in in_flight.values():
                    self.send(envelope)
                continue
            while self.socket.poll(0):
                self.reply_messages += 1
                for reply in replies_in(json.loads(self.socket.recv())):
                    envelope = pending.pop(reply.get("id"), None)
                    if envelope is None:
                        continue
                    in_flight.pop(envelope["id"], None)
                    replies[envelope["id"]] = reply
                    on_reply(envelope, reply)
        return replies

    def send(self, envelope):
        self.socket.send_multipart(self.header + [json.dumps(envelope).encode()])

    def request(self, frames):
        """Sends one raw message and waits for its single reply frame."""
        self.socket.send_multipart(frames)
        if self.socket.poll(10000) == 0:
            raise TimeoutError("no reply from " + self.endpoint)
        return json.loads(self.socket.recv())


def replies_in(message):
    """The replies a reply message holds: itself, or one ack per element of a grouped reply."""
    if message.get("status") != "acks":
        return [message]
    return [{"status": "ack", "id": ack[0], "offset": ack[1], "duplicate": len(ack) > 2 and ack[2]} for ack in message["acks"]]


def read_acks(paths):
    """The ids crash_publisher.py recorded as acked in `paths`, and how many it recorded as nacked."""
    acked, nacked = set(), 0
    for path in paths:
        for line in open(path):
            line = line.strip()
            if line.startswith("NACK"):
                nacked += 1
            elif line:
                acked.add(line)
    return acked, nacked


def wait_or_kill(process, seconds):
    """`process`'s exit status once it ends, or None (and the process killed) after `seconds`."""
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
