"""Publishes 1,000 events, one malformed message and one duplicate; prints what came back.
With `--group-acks`, asks for the acks of each commit in one reply."""
import json
import sys

from wzt_client import Publisher, replies_in, screening_requested

endpoint = sys.argv[1]
group_acks = "--group-acks" in sys.argv[2:]
publisher = Publisher(endpoint, window=64, group_acks=group_acks)
envelopes = [screening_requested(n) for n in range(1000)]
replies = publisher.publish(envelopes)
acked = [[e["id"], replies[e["id"]].get("offset"), replies[e["id"]]["status"]] for e in envelopes if e["id"] in replies]

malformed = publisher.request(publisher.header + [b'{"specversion": "1.0", "id": "broken"'])
duplicate_id = envelopes[500]["id"]
duplicate = replies_in(publisher.request(publisher.header + [json.dumps(screening_requested(500, duplicate_id)).encode()]))[0]

json.dump({"acked": acked, "reply_messages": publisher.reply_messages, "malformed": malformed, "duplicate_id": duplicate_id,
           "duplicate": duplicate}, sys.stdout)
