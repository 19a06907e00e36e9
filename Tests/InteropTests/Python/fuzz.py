"""Feeds a wzt ingress malformed messages while valid events flow beside them.

usage: fuzz.py ENDPOINT COUNT SEED [CORPUS_DIR]

Sends COUNT generated messages (truncated and mutated valid envelopes, wrong attribute types,
huge strings, deep nesting, invalid UTF-8, wrong dataversion, oversized and extra frames, empty
frames; a quarter of them after a `group-acks` frame) from one DEALER, with at most WINDOW in
flight, and meanwhile publishes valid events from a second DEALER, every other batch asking for
grouped acks. Prints one JSON summary line and exits 1 if any check fails: every message got
exactly one reply (an ack in a grouped reply counts as one); every nack has a documented code;
every valid event was acked. A mutant that happens to be a valid event may be acked; it is
counted, not an error.
With CORPUS_DIR, sends one message at a time instead and writes the first three single-frame
messages of each nack code there (CODE-N.msg), as regression cases for the envelope decoder.
"""
import json
import os
import random
import sys
import threading
import time
import uuid

import zmq

from wzt_client import replies_in, screening_requested

CODES = {"empty-message", "extra-frames", "too-large", "malformed-json", "missing-attribute", "bad-specversion",
         "bad-id", "bad-attribute", "unknown-type", "unsupported-dataversion", "invalid-data"}
WINDOW = 512
MAX_EVENT_BYTES = 1 << 20

endpoint, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
corpus = sys.argv[4] if len(sys.argv) > 4 else None
rng = random.Random(seed)


def valid_bytes(number):
    return json.dumps(screening_requested(number, str(uuid.UUID(int=rng.getrandbits(128), version=4)))).encode()


def with_attribute(number, key, value):
    envelope = screening_requested(number, str(uuid.UUID(int=rng.getrandbits(128), version=4)))
    path = key.split(".")
    target = envelope
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return json.dumps(envelope).encode()


WRONG_VALUES = [None, True, 0, -1, 1.5, 1e308, "", " ", [], {}, [1, 2], {"a": 1}, "x" * 300, "\u0000", "💥"]
ATTRIBUTES = ["specversion", "id", "source", "type", "subject", "time", "dataversion", "data", "datacontenttype",
              "data.caseId", "data.insz", "data.region", "data.requestedOn", "data.office"]


def generate(number):
    """One malformed (or maybe accidentally valid) message: a list of frames."""
    kind = rng.randrange(12)
    base = valid_bytes(number)
    if kind == 0:  # truncated
        return [base[: rng.randrange(len(base))]]
    if kind == 1:  # a few bytes flipped, inserted or removed
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            spot = rng.randrange(len(data))
            choice = rng.randrange(3)
            if choice == 0:
                data[spot] = rng.randrange(256)
            elif choice == 1:
                data.insert(spot, rng.randrange(256))
            elif len(data) > 1:
                del data[spot]
        return [bytes(data)]
    if kind == 2:  # an attribute of the wrong type, or missing
        return [with_attribute(number, rng.choice(ATTRIBUTES), rng.choice(WRONG_VALUES + [KeyError]))]
    if kind == 3:  # huge strings
        size = rng.choice([257, 1025, 70_000, MAX_EVENT_BYTES + 1])
        return [with_attribute(number, rng.choice(["subject", "source", "data.office", "data.caseId"]), "a" * size)]
    if kind == 4:  # deep nesting
        depth = rng.choice([100, 10_000, 200_000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        body = opener * depth + "1" + closer * (depth if rng.random() < 0.5 else depth // 2)
        return [body.encode()] if rng.random() < 0.5 else [with_attribute(number, "data", json.loads("[" * 50 + "]" * 50))]
    if kind == 5:  # invalid UTF-8 inside a string
        cut = base.index(b'"Gent"') + 2
        return [base[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]) + base[cut:]]
    if kind == 6:  # wrong dataversion
        return [with_attribute(number, "dataversion", rng.choice([0, 2, 99, -1, "abc", "1.0x", 1.5, 2**63]))]
    if kind == 7:  # over the size limit
        return [base + b" " * (MAX_EVENT_BYTES + 1 - len(base))]
    if kind == 8:  # extra frames
        return [base] + [b"x"] * rng.randint(1, 3)
    if kind == 9:  # empty frame
        return [b""]
    if kind == 10:  # unknown type or specversion, bad id
        key, value = rng.choice([("type", "be.wzt.unknown.thing"), ("type", "not a type"), ("specversion", "0.3"),
                                 ("id", "not-a-uuid"), ("id", "01ARZ3NDEKTSV4RRFFQ69G5FA"), ("time", "yesterday")])
        return [with_attribute(number, key, value)]
    return [bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))]  # noise


valid = {"sent": 0, "acked": 0, "problems": []}
stop = threading.Event()


def publish_valid():
    """Valid traffic beside the fuzzing: every one of these must be acked."""
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    number = 10_000_000
    grouped = False
    while not stop.is_set():
        batch = []
        grouped = not grouped
        for _ in range(32):
            number += 1
            envelope = screening_requested(number)
            batch.append(envelope["id"])
            socket.send_multipart(([b"group-acks"] if grouped else []) + [json.dumps(envelope).encode()])
        valid["sent"] += len(batch)
        waiting = set(batch)
        deadline = time.time() + 30
        while waiting and time.time() < deadline:
            if socket.poll(1000):
                for reply in replies_in(json.loads(socket.recv())):
                    if reply.get("status") == "ack" and reply.get("id") in waiting:
                        waiting.discard(reply["id"])
                        valid["acked"] += 1
                    else:
                        valid["problems"].append(reply)
        if waiting:
            valid["problems"].append({"unanswered": len(waiting)})
            return
        time.sleep(0.02)
    socket.close()


if corpus:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.connect(endpoint)
    kept = {}
    for number in range(count):
        frames = generate(number)
        if len(frames) != 1 or len(frames[0]) > 100_000:
            continue
        socket.send(frames[0])
        reply = json.loads(socket.recv())
        code = reply.get("code")
        if reply.get("status") == "nack" and kept.get(code, 0) < 3:
            kept[code] = kept.get(code, 0) + 1
            with open(os.path.join(corpus, f"{code}-{kept[code]}.msg"), "wb") as out:
                out.write(frames[0])
    print(json.dumps(kept))
    sys.exit(0)

worker = threading.Thread(target=publish_valid)
worker.start()

socket = zmq.Context.instance().socket(zmq.DEALER)
socket.setsockopt(zmq.LINGER, 0)
socket.setsockopt(zmq.SNDHWM, 0)
socket.setsockopt(zmq.RCVHWM, 0)
socket.connect(endpoint)
codes, acks, problems = {}, 0, []
sent = replied = 0
started = time.time()
last_reply = time.time()


def take_reply():
    global replied, acks, last_reply
    reply = json.loads(socket.recv())
    last_reply = time.time()
    if reply.get("status") == "acks":
        replied += len(reply["acks"])
        acks += len(reply["acks"])
        return
    replied += 1
    if reply.get("status") == "ack":
        acks += 1
    elif reply.get("status") == "nack" and reply.get("code") in CODES:
        codes[reply["code"]] = codes.get(reply["code"], 0) + 1
    else:
        problems.append(reply)


while sent < count or replied < sent:
    while sent < count and sent - replied < WINDOW:
        frames = generate(sent)
        socket.send_multipart([b"group-acks"] + frames if rng.random() < 0.25 else frames)
        sent += 1
    if socket.poll(2000):
        take_reply()
    elif time.time() - last_reply > 30:
        problems.append({"stalled": sent - replied})
        break

stop.set()
worker.join()
summary = {"sent": sent, "replies": replied, "acks": acks, "nacks": codes, "problems": problems[:10],
           "validSent": valid["sent"], "validAcked": valid["acked"], "validProblems": valid["problems"][:10],
           "seconds": round(time.time() - started, 1)}
print(json.dumps(summary), flush=True)
ok = replied == sent and not problems and valid["acked"] == valid["sent"] and not valid["problems"] and valid["sent"] > 0
sys.exit(0 if ok else 1)
