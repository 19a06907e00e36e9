"""Publishes a day of realistic events to a running wzt node, made from the scenarios.

usage: demo.py ENDPOINT WZT_BINARY DATA_DIR [--replicas 20] [--scenario NAME ...] [--curve SERVER.pub CLIENT.key] [--config PATH]

Every scenario in Tests/Scenarios (both regimes, intake, mandating, networks, AMA, GBO) is
played REPLICAS times with its ids renamed per replica (case-1 -> case-1-d7, a fresh valid INSZ
per person), the replicas interleaved step by step as a day's traffic would be. Scans the AMA
submissions refer to are stored first with `wzt ama attach`. Steps that move a test clock are left
out: deadlines fire on the real clock, later. Shows a progress bar on standard error.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "Tests", "InteropTests", "Python"))
from wzt_client import Publisher  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("endpoint")
parser.add_argument("wzt")
parser.add_argument("data")
parser.add_argument("--replicas", type=int, default=20)
parser.add_argument("--scenario", action="append", help="only this scenario (file name without .json); repeatable")
parser.add_argument("--curve", nargs=2, metavar=("SERVER_PUB", "CLIENT_KEY"), help="CURVE: the node's .pub file and this client's .key file")
parser.add_argument("--ama-data", help="data directory of the process that hosts the AMA module (default: DATA_DIR)")
parser.add_argument("--config", help="the node's configuration file, for `wzt status` (a node whose log is in PostgreSQL)")
args = parser.parse_args()


def insz(number, born=None):
    """A valid INSZ, different for each number: for someone born on `born` (yyyy-mm-dd) when given,
    else on 1 January of a year from 1980 to 1999."""
    year, month, day = (int(part) for part in born.split("-")) if born else (1980 + number // 998 % 20, 1, 1)
    base = f"{year % 100:02d}{month:02d}{day:02d}{number % 998 + 1:03d}"
    return base + f"{97 - (int(base) + (2_000_000_000 if year >= 2000 else 0)) % 97:02d}"


def ids_in(value, found):
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, str) and key.endswith("Id"):
                found.add(inner)
            ids_in(inner, found)
    elif isinstance(value, list):
        for inner in value:
            ids_in(inner, found)


def renamed(value, mapping):
    if isinstance(value, dict):
        return {key: renamed(inner, mapping) for key, inner in value.items()}
    if isinstance(value, list):
        return [renamed(inner, mapping) for inner in value]
    if isinstance(value, str):
        return mapping.get(value, value)
    return value


# Who publishes each module's events in the demo, and for which purpose (docs/protocol.md,
# "Actor and purpose"): the caseworker of the agency that runs the module.
ACTORS = {
    "intake": ("vdab-counsellor-17", "vdab-counsellor", "vdab", "activation-trajectory"),
    "networks": ("network-coordinator-3", "network-coordinator", "vdab", "activation-trajectory"),
    "mandating": ("zorg-officer-5", "mandate-officer", "departement-zorg", "casemanager-mandate"),
    "ama": ("ama-officer-2", "ama-officer", "welzijn", "ama-agreement"),
    "gbo": ("gbo-worker-8", "onthaal-worker", "ocmw", "gbo-onboarding"),
}


def actor(event_type):
    """The actor attributes for an event of `event_type` (be.wzt.<module>.<name>)."""
    who, role, agency, purpose = ACTORS[event_type.split(".")[2]]
    return {"actor": who, "actorrole": role, "actoragency": agency, "purpose": purpose}


paths = sorted(glob.glob(os.path.join(here, "..", "Tests", "Scenarios", "*.json")))
if args.scenario:
    unknown = set(args.scenario) - {os.path.basename(path)[:-5] for path in paths}
    if unknown:
        parser.error(f"no scenario {', '.join(sorted(unknown))} in Tests/Scenarios")
    paths = [path for path in paths if os.path.basename(path)[:-5] in args.scenario]
scenarios = [json.load(open(path)) for path in paths]
scans = set()
people = 0
plays = []  # per replica and scenario: its envelopes in order
for replica in range(1, args.replicas + 1):
    for scenario in scenarios:
        publishes = [step["publish"] for step in scenario["steps"] if "publish" in step]
        scans.update(step["attach"]["text"] for step in scenario["steps"] if "attach" in step)
        found = set()
        for publish in publishes:
            ids_in(publish["data"], found)
            if publish.get("subject"):
                found.add(publish["subject"])
        mapping = {value: f"{value}-d{replica}" for value in found}
        numbers = set()
        for number, born in [(p["data"].get("insz") or (p["data"].get("filing") or {}).get("insz"), p["data"].get("birthDate")) for p in publishes]:
            if number and number not in numbers:
                numbers.add(number)
                people += 1
                mapping[number] = insz(people, born)
        plays.append([{
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/demo/" + os.path.basename(scenario["name"]).split(":")[0].lower().replace(" ", "-")[:40],
            "type": publish["type"], "dataversion": publish.get("dataversion", 1), **actor(publish["type"]),
            **({"subject": mapping.get(publish["subject"], publish["subject"])} if publish.get("subject") else {}),
            "data": renamed(publish["data"], mapping),
        } for publish in publishes])

with tempfile.NamedTemporaryFile("w", suffix=".pdf", delete=False) as scan_file:
    for text in scans:
        scan_file.seek(0)
        scan_file.truncate()
        scan_file.write(text)
        scan_file.flush()
        subprocess.run([args.wzt, "ama", "attach", scan_file.name, "--data-dir", args.ama_data or args.data], check=True, capture_output=True)

total, done, counts = sum(len(play) for play in plays), 0, {"ack": 0, "nack": 0}
curve = None
if args.curve:
    import zmq
    server_key = open(args.curve[0]).read().strip()
    secret = open(args.curve[1]).read().strip()
    curve = (server_key, zmq.curve_public(secret.encode()).decode(), secret)
publisher = Publisher(args.endpoint, window=64, timeout_ms=5000, curve=curve)


def progress(envelope, reply):
    global done
    done += 1
    counts[reply["status"]] = counts.get(reply["status"], 0) + 1
    if done % 50 == 0 or done == total:
        filled = done * 40 // total
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (40 - filled)}] {done}/{total} events")
        sys.stderr.flush()


# Interleaved: the first step of every play, then the second, and so on; a batch is acked before
# the next goes out, so that a case's later events never overtake its earlier ones.
def settled():
    """Whether every module has handled everything of its types, what their outboxes added included."""
    status = subprocess.run([args.wzt, "status", "--json"] + (["--config", args.config] if args.config else ["--data-dir", args.data]),
                            capture_output=True, text=True)
    return status.returncode == 0 and all(row["lag"] == 0 for row in json.loads(status.stdout)["subscriptions"])


for step in range(max(len(play) for play in plays)):
    publisher.publish([play[step] for play in plays if step < len(play)], on_reply=progress, deadline_s=300)
    # A scenario's next step may need what the modules make of this one (a mandate before a
    # referral to it), as its expect steps do in the tests.
    for _ in range(100):
        if settled():
            break
        time.sleep(0.1)
sys.stderr.write("\n")
print(json.dumps({"scenarios": len(scenarios), "replicas": args.replicas, "people": people, "events": total, **counts}))
