"""Publishes COUNT events with acks, writing each acked id to ACKFILE as soon as it is acked.

usage: crash_publisher.py ENDPOINT COUNT ACKFILE [FIRST_CASE]

Keeps going through server crashes: unanswered events are sent again with the same id.
"""
import sys

from wzt_client import Publisher, screening_requested

endpoint, count, ack_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
publisher = Publisher(endpoint, window=64, timeout_ms=500)
with open(ack_file, "w", buffering=1) as acks:
    def record(envelope, reply):
        if reply["status"] == "ack":
            acks.write(envelope["id"] + "\n")
        else:
            acks.write("NACK " + envelope["id"] + " " + reply.get("code", "") + "\n")
    replies = publisher.publish([screening_requested(n) for n in range(first, first + count)], on_reply=record, deadline_s=180)
sys.exit(0 if len(replies) == count else 1)
