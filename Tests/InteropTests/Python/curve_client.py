"""Publishes envelopes (one JSON object per line on standard input) to a wzt ingress, with or
without CURVE, and prints one line per envelope: the node's reply, or "timeout" when none came.

usage: curve_client.py ENDPOINT [SERVER_PUBLIC_KEY CLIENT_PUBLIC_KEY CLIENT_SECRET_KEY]
       curve_client.py --keypair      prints a new "PUBLIC SECRET" pair

REPLY_TIMEOUT_MS in the environment: how long to wait for each reply (1500 by default, long
enough for a refusal at the handshake to show as "timeout" soon).
"""
import os
import sys

import zmq

if sys.argv[1] == "--keypair":
    public, secret = zmq.curve_keypair()
    print(public.decode(), secret.decode())
    sys.exit(0)

context = zmq.Context()
socket = context.socket(zmq.DEALER)
socket.setsockopt(zmq.LINGER, 0)
socket.setsockopt(zmq.RCVTIMEO, int(os.environ.get("REPLY_TIMEOUT_MS", "1500")))
if len(sys.argv) == 5:
    socket.curve_serverkey = sys.argv[2].encode()
    socket.curve_publickey = sys.argv[3].encode()
    socket.curve_secretkey = sys.argv[4].encode()
socket.connect(sys.argv[1])
for line in sys.stdin:
    if not line.strip():
        continue
    socket.send(line.strip().encode())
    try:
        print(socket.recv().decode(), flush=True)
    except zmq.Again:
        print("timeout", flush=True)
