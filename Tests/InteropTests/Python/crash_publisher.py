"""Publishes COUNT events with acks, writing each acked id to ACKFILE as soon as it is acked.

usage: crash_publisher.py ENDPOINT COUNT ACKFILE [FIRST_CASE]

Keeps going through server crashes: unanswered events are sent again with the same id, and so are
events nacked with a code that says to retry later (storage-failed, unavailable: the database
away, the node stopping), as docs/protocol.md asks of publishers. Other nacks are written as
"NACK id code".
"""
import sys
import time

from wzt_client import Publisher, screening_requested

RETRY_LATER = {"storage-failed", "unavailable"}
endpoint, count, ack_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
publisher = Publisher(endpoint, window=64, timeout_ms=500)
deadline = time.time() + 180
answered = 0
with open(ack_file, "w", buffering=1) as acks:
    again = []

    def record(envelope, reply):
        global answered
        if reply["status"] == "ack":
            acks.write(envelope["id"] + "\n")
            answered += 1
        elif reply.get("code") in RETRY_LATER:
            again.append(envelope)
        else:
            acks.write("NACK " + envelope["id"] + " " + reply.get("code", "") + "\n")
            answered += 1

    batch = [screening_requested(n) for n in range(first, first + count)]
    while batch and time.time() < deadline:
        publisher.publish(batch, on_reply=record, deadline_s=max(1, deadline - time.time()))
        batch, again = again, []
        if batch:
            time.sleep(0.2)
sys.exit(0 if answered == count else 1)
