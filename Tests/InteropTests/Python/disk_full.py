"""Publishes to a wzt node whose data directory fills up, and checks the log afterwards.

usage: disk_full.py fill ENDPOINT IDS_FILE     publish until the node nacks storage-failed
       disk_full.py publish ENDPOINT IDS_FILE N  publish N more events (space has returned)
       disk_full.py verify LOG_SQLITE IDS_FILE   every acked id in the log exactly once
Each mode prints one JSON line; acked ids are appended to IDS_FILE.
"""
import json
import sqlite3
import sys

import zmq

from wzt_client import screening_requested

mode = sys.argv[1]


def publish(endpoint, ids_file, batches, stop_when_full):
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    acked, nacks, reasons, number = [], {}, [], 0
    for _ in range(batches):
        for _ in range(50):
            number += 1
            envelope = screening_requested(number)
            envelope["data"]["office"] = "Gent " + "x" * 4000  # fills the disk sooner
            socket.send(json.dumps(envelope).encode())
        for _ in range(50):
            if not socket.poll(30_000):
                print(json.dumps({"error": "no reply within 30 s"}))
                sys.exit(1)
            reply = json.loads(socket.recv())
            if reply["status"] == "ack":
                acked.append(reply["id"])
            else:
                nacks[reply["code"]] = nacks.get(reply["code"], 0) + 1
                if len(reasons) < 3:
                    reasons.append(reply.get("reason"))
        if stop_when_full and nacks.get("storage-failed", 0) >= 50:
            break
    with open(ids_file, "a") as out:
        out.writelines(event_id + "\n" for event_id in acked)
    print(json.dumps({"acked": len(acked), "nacks": nacks, "reasons": reasons}))


if mode == "fill":
    publish(sys.argv[2], sys.argv[3], batches=400, stop_when_full=True)
elif mode == "publish":
    publish(sys.argv[2], sys.argv[3], batches=int(sys.argv[4]) // 50, stop_when_full=False)
elif mode == "verify":
    acked = [line.strip() for line in open(sys.argv[3]) if line.strip()]
    database = sqlite3.connect(f"file:{sys.argv[2]}?mode=ro", uri=True)
    counts = dict(database.execute("SELECT id, COUNT(*) FROM events GROUP BY id"))
    lost = [event_id for event_id in acked if event_id not in counts]
    print(json.dumps({"acked": len(acked), "found": sum(1 for event_id in acked if event_id in counts),
                      "duplicates": sum(1 for count in counts.values() if count > 1), "lost": len(lost)}))
