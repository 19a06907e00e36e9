"""Fault injection: pyzmq publishers with acks while the node is killed again and again.

usage: soak.py WZT_BINARY DATA_DIR [--kills 20] [--sigterms 3] [--publishers 3] [--events 3000] [--seed N]

Starts `wzt serve`, runs PUBLISHERS crash_publisher.py processes of EVENTS screening requests
each, and meanwhile stops the node KILLS times with SIGKILL and SIGTERMS times with SIGTERM at
random moments, restarting it on the same data each time. Then lets the modules catch up and
checks, reading the SQLite files directly:
  - every acked id is in the log exactly once (found, lost);
  - intake applied every request exactly once: one `requested` status per case (duplicates
    applied); for every module, each event of its types at or below its cursor is in its inbox
    (no cursor ahead of the module's state);
  - no dead letters (nothing here was meant to fail); SIGTERM always exits 0.
Prints one summary line and exits 1 when a check fails.
"""
import argparse
import fnmatch
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("wzt")
parser.add_argument("data")
parser.add_argument("--kills", type=int, default=20)
parser.add_argument("--sigterms", type=int, default=3)
parser.add_argument("--publishers", type=int, default=3)
parser.add_argument("--events", type=int, default=3000)
parser.add_argument("--seed", type=int, default=20261123)
args = parser.parse_args()
rng = random.Random(args.seed)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ports = [free_port() for _ in range(3)]
endpoints = [f"tcp://127.0.0.1:{port}" for port in ports]
server_log = open(args.data.rstrip("/") + ".server.log", "ab")
problems = []


def start():
    process = subprocess.Popen([args.wzt, "serve", "--data-dir", args.data, "--ingress", endpoints[0], "--egress", endpoints[1],
                                "--replay", endpoints[2], "--http", "off"], stdout=subprocess.PIPE, stderr=server_log)
    line = process.stdout.readline().decode()
    if not line.startswith("wzt ready"):
        sys.exit(f"soak: wzt serve did not start: {line!r}")
    return process


def progress(message):
    print(f"soak: {message}", file=sys.stderr, flush=True)


node = start()
ack_files = [f"{args.data.rstrip('/')}.acked-{n}.txt" for n in range(args.publishers)]
publishers = [subprocess.Popen([sys.executable, os.path.join(here, "crash_publisher.py"), endpoints[0], str(args.events), ack_files[n],
                                str(n * args.events)]) for n in range(args.publishers)]
stops = ["kill"] * args.kills + ["term"] * args.sigterms
rng.shuffle(stops)
for number, how in enumerate(stops, 1):
    time.sleep(rng.uniform(0.2, 1.2))
    if how == "kill":
        node.kill()
        node.wait()
    else:
        node.terminate()
        if node.wait(timeout=60) != 0:
            problems.append(f"SIGTERM exit {node.returncode}")
    progress(f"stop {number}/{len(stops)} ({how}), restarting")
    node = start()
for publisher in publishers:
    if publisher.wait(timeout=600) != 0:
        problems.append("a publisher did not get every event acked")

# Let every module catch up, then stop cleanly.
deadline = time.time() + 120
while time.time() < deadline:
    status = json.loads(subprocess.run([args.wzt, "status", "--json", "--data-dir", args.data], capture_output=True, check=True).stdout)
    if status["subscriptions"] and all(row["lag"] == 0 for row in status["subscriptions"]):
        break
    time.sleep(0.5)
else:
    problems.append("modules did not catch up within 120 s")
node.terminate()
if node.wait(timeout=60) != 0:
    problems.append(f"final SIGTERM exit {node.returncode}")

acked, nacked = set(), 0
for path in ack_files:
    for line in open(path):
        line = line.strip()
        if line.startswith("NACK"):
            nacked += 1
        elif line:
            acked.add(line)
log = sqlite3.connect(f"file:{args.data}/log.sqlite?mode=ro", uri=True)
requests = dict(log.execute("SELECT id, \"offset\" FROM events WHERE type = 'be.wzt.intake.screening-requested'"))
found = len(acked & requests.keys())
lost = len(acked - requests.keys())
requested_per_case = {}
for (envelope,) in log.execute("SELECT envelope FROM events WHERE type = 'be.wzt.intake.case-status-changed'"):
    data = json.loads(envelope)["data"]
    if data["status"] == "requested":
        requested_per_case[data["caseId"]] = requested_per_case.get(data["caseId"], 0) + 1
duplicates = sum(count - 1 for count in requested_per_case.values())
unapplied = len(requests) - len(requested_per_case)
dead_letters = log.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
cursors = dict(log.execute("SELECT subscription, \"offset\" FROM cursors"))
# Every module: each event of its types at or below its cursor is in its inbox, i.e. applied.
ahead = 0
status = json.loads(subprocess.run([args.wzt, "status", "--json", "--data-dir", args.data], capture_output=True, check=True).stdout)
for row in status["subscriptions"]:
    module = sqlite3.connect(f"file:{args.data}/modules/{row['subscription']}.sqlite?mode=ro", uri=True)
    inbox = {event_id for (event_id,) in module.execute("SELECT event_id FROM wzt_inbox")}
    for event_id, event_type in log.execute("SELECT id, type FROM events WHERE \"offset\" <= ?", (row["cursor"],)):
        if any(fnmatch.fnmatchcase(event_type, pattern) for pattern in row["patterns"]) and event_id not in inbox:
            ahead += 1

summary = {"kills": args.kills, "sigterms": args.sigterms, "acked": len(acked), "found": found, "lost": lost, "nacked": nacked,
           "duplicatesApplied": duplicates, "notApplied": unapplied, "cursorAheadOfState": ahead, "deadLetters": dead_letters,
           "problems": problems}
print(json.dumps(summary), flush=True)
print(f"soak: {args.kills} kill -9 and {args.sigterms} SIGTERM: events acked {len(acked)}, events found {found}, "
      f"duplicates applied {duplicates}, lost {lost}", file=sys.stderr)
expected = args.publishers * args.events
ok = (len(acked) == expected and lost == 0 and nacked == 0 and duplicates == 0 and unapplied == 0 and ahead == 0
      and dead_letters == 0 and not problems)
sys.exit(0 if ok else 1)
