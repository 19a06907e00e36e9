"""Publishes 1,000 events, one malformed message and one duplicate; prints what came back."""
import json
import sys

from wzt_client import Publisher, screening_requested

endpoint = sys.argv[1]
publisher = Publisher(endpoint, window=64)
envelopes = [screening_requested(n) for n in range(1000)]
replies = publisher.publish(envelopes)
acked = [[e["id"], replies[e["id"]].get("offset"), replies[e["id"]]["status"]] for e in envelopes if e["id"] in replies]

malformed = publisher.request([b'{"specversion": "1.0", "id": "broken"'])
duplicate_id = envelopes[500]["id"]
duplicate = publisher.request([json.dumps(screening_requested(500, duplicate_id)).encode()])

json.dump({"acked": acked, "malformed": malformed, "duplicate_id": duplicate_id, "duplicate": duplicate}, sys.stdout)
