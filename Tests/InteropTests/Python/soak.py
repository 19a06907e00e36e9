"""Fault injection: pyzmq publishers with acks while the node is killed again and again.

usage: soak.py WZT_BINARY DATA_DIR [--kills 20] [--sigterms 3] [--publishers 3] [--events 3000] [--seed N]
               [--remote-intake [--module-kills 10] [--module-stops 3]]

Starts `wzt serve`, runs PUBLISHERS crash_publisher.py processes of EVENTS screening requests
each, and meanwhile stops the node KILLS times with SIGKILL and SIGTERMS times with SIGTERM at
random moments, restarting it on the same data each time. Then lets the modules catch up and
checks, reading the SQLite files directly:
  - every acked id is in the log exactly once (found, lost);
  - intake applied every request exactly once: one `requested` status per case (duplicates
    applied); for every module, each event of its types at or below its cursor is in its inbox
    (no cursor ahead of the module's state);
  - no dead letters (nothing here was meant to fail); SIGTERM always exits 0.
With --remote-intake, intake runs in a process of its own (over the module link), and that
process is killed MODULE_KILLS times and stopped with SIGSTOP for longer than the link's
heartbeat MODULE_STOPS times, in between the node's stops.
Prints one summary line and exits 1 when a check fails.
"""
import argparse
import fnmatch
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from wzt_client import read_acks

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("wzt")
parser.add_argument("data")
parser.add_argument("--kills", type=int, default=20)
parser.add_argument("--sigterms", type=int, default=3)
parser.add_argument("--publishers", type=int, default=3)
parser.add_argument("--events", type=int, default=3000)
parser.add_argument("--seed", type=int, default=20261123)
parser.add_argument("--remote-intake", action="store_true")
parser.add_argument("--module-kills", type=int, default=10)
parser.add_argument("--module-stops", type=int, default=3)
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


core_config, module_config = [], []
module_data = args.data.rstrip("/") + ".vdab"
if args.remote_intake:
    link = f"tcp://127.0.0.1:{free_port()}"
    with open(args.data.rstrip("/") + ".core.toml", "w") as file:
        file.write(f'[modules]\nremote = ["intake"]\n\n[link]\nendpoint = "{link}"\n')
    with open(module_data + ".toml", "w") as file:
        file.write(f'[data]\ndir = "{module_data}"\n\n[modules]\nenabled = ["intake"]\n\n[core]\nendpoint = "{link}"\n')
    core_config = ["--config", args.data.rstrip("/") + ".core.toml"]
    module_config = ["--config", module_data + ".toml"]


def ready(process, what):
    line = process.stdout.readline().decode()
    if not line.startswith("wzt ready"):
        sys.exit(f"soak: {what} did not start: {line!r}")
    return process


def start():
    return ready(subprocess.Popen([args.wzt, "serve", "--data-dir", args.data, "--ingress", endpoints[0], "--egress", endpoints[1],
                                   "--replay", endpoints[2], "--http", "off"] + core_config, stdout=subprocess.PIPE, stderr=server_log), "wzt serve")


def start_module():
    return ready(subprocess.Popen([args.wzt, "serve"] + module_config, stdout=subprocess.PIPE, stderr=server_log), "the intake process")


def progress(message):
    print(f"soak: {message}", file=sys.stderr, flush=True)


node = start()
module = start_module() if args.remote_intake else None
ack_files = [f"{args.data.rstrip('/')}.acked-{n}.txt" for n in range(args.publishers)]
publishers = [subprocess.Popen([sys.executable, os.path.join(here, "crash_publisher.py"), endpoints[0], str(args.events), ack_files[n],
                                str(n * args.events)]) for n in range(args.publishers)]
stops = ["kill"] * args.kills + ["term"] * args.sigterms
if args.remote_intake:
    stops += ["kill module"] * args.module_kills + ["stop module"] * args.module_stops
rng.shuffle(stops)
for number, how in enumerate(stops, 1):
    time.sleep(rng.uniform(0.2, 1.2))
    if how == "kill module":
        module.kill()
        module.wait()
        progress(f"stop {number}/{len(stops)} (kill -9 of the intake process), restarting it")
        module = start_module()
        continue
    if how == "stop module":
        # Longer than the link's 3 s silence: the core declares it gone, then it comes back.
        module.send_signal(signal.SIGSTOP)
        time.sleep(4)
        module.send_signal(signal.SIGCONT)
        progress(f"stop {number}/{len(stops)} (SIGSTOP of the intake process for 4 s)")
        continue
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
for process, what in [(module, "intake process"), (node, "node")]:
    if process is None:
        continue
    process.terminate()
    if process.wait(timeout=60) != 0:
        problems.append(f"final SIGTERM of the {what}: exit {process.returncode}")

acked, nacked = read_acks(ack_files)
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
    if row["subscription"] == "privacy":
        continue  # the core's eraser: it keeps no module store, its effect is the keys it deletes
    home = module_data if args.remote_intake and row["subscription"] == "intake" else args.data
    store = sqlite3.connect(f"file:{home}/modules/{row['subscription']}.sqlite?mode=ro", uri=True)
    inbox = {event_id for (event_id,) in store.execute("SELECT event_id FROM wzt_inbox")}
    for event_id, event_type in log.execute("SELECT id, type FROM events WHERE \"offset\" <= ?", (row["cursor"],)):
        if any(fnmatch.fnmatchcase(event_type, pattern) for pattern in row["patterns"]) and event_id not in inbox:
            ahead += 1

summary = {"kills": args.kills, "sigterms": args.sigterms, "remoteIntake": args.remote_intake,
           "moduleKills": args.module_kills if args.remote_intake else 0, "moduleStops": args.module_stops if args.remote_intake else 0, "acked": len(acked), "found": found, "lost": lost, "nacked": nacked,
           "duplicatesApplied": duplicates, "notApplied": unapplied, "cursorAheadOfState": ahead, "deadLetters": dead_letters,
           "problems": problems}
print(json.dumps(summary), flush=True)
scenario = f"{args.kills} kill -9 and {args.sigterms} SIGTERM of the node"
if args.remote_intake:
    scenario += f", {args.module_kills} kill -9 and {args.module_stops} SIGSTOP of the intake process"
print(f"soak: {scenario}: events acked {len(acked)}, events found {found}, "
      f"duplicates applied {duplicates}, lost {lost}", file=sys.stderr)
expected = args.publishers * args.events
ok = (len(acked) == expected and lost == 0 and nacked == 0 and duplicates == 0 and unapplied == 0 and ahead == 0
      and dead_letters == 0 and not problems)
sys.exit(0 if ok else 1)
