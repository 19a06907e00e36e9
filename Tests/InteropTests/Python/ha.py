"""Several core nodes on one PostgreSQL log, the node that runs intake killed again and again.

usage: ha.py WZT_BINARY WORK_DIR POSTGRES_URL [--nodes 2] [--kills 10] [--stops 1] [--publishers 2]
             [--events 1500] [--lease-ms 2000] [--seed N] [--scenarios N] [--remote [--module-kills N]] [--bench]

Starts NODES `wzt serve` processes with `[cluster]` and their log and modules in PostgreSQL, runs
PUBLISHERS crash_publisher.py processes of EVENTS screening requests each, spread over the nodes,
and meanwhile
  - KILLS times kills the node that runs intake with SIGKILL, waits until another node took
    intake over (the takeover time), then starts the killed one again;
  - STOPS times stops the node that runs intake with SIGSTOP for twice the lease, waits until
    another took over, then lets it go on (it must notice and write nothing more).
Then lets the modules catch up, stops every node with SIGTERM and checks, reading PostgreSQL:
  - every acked id is in the log (found, lost);
  - intake applied every request exactly once: one `requested` status per case;
  - no event a module published has a twin: two events of one type with the same data caused by
    one event would mean a module applied that event, or fired a deadline, twice (on two nodes);
  - for every module, each event of its types at or below its cursor is in its inbox;
  - no dead letters; every SIGTERM exits 0;
  - intake's tables equal a rebuild from the log (`wzt modules rebuild intake`, run while the
    nodes run: into a schema of its own, then swapped), row for row, but for the inbox's handling
    times, timers' envelopes and the fence; and a node takes intake up again after it.
With --remote, intake runs in a module process of its own that lists every node's link endpoint
(`[core] endpoints`): the node that holds intake's lease feeds it over the link, and a node that
lost the lease cannot have a window applied (fencing tokens over the link). --module-kills N also
kills that module process N times among the faults and starts it again.
With --scenarios N, Scripts/demo.py also plays the scenarios whose deadlines lie in the past N
times on the first node, so that timers fire during the faults; a timer fired on two nodes would
show as a twin. The summary counts the timers fired.
Prints the takeover times (p50, p99, max) and one JSON summary line; exits 1 when a check fails.
With --bench it measures instead (Scripts/bench --cluster) and prints one JSON line per row.
"""
import argparse
import fnmatch
import glob
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

from wzt_client import read_acks, wait_or_kill

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("wzt")
parser.add_argument("work")
parser.add_argument("postgres")
parser.add_argument("--nodes", type=int, default=2)
parser.add_argument("--kills", type=int, default=10)
parser.add_argument("--stops", type=int, default=1)
parser.add_argument("--publishers", type=int, default=2)
parser.add_argument("--events", type=int, default=1500)
parser.add_argument("--lease-ms", type=int, default=2000)
parser.add_argument("--seed", type=int, default=20261206)
parser.add_argument("--scenarios", type=int, default=0, metavar="REPLICAS",
                    help="also play the scenarios of Tests/Scenarios that schedule deadlines (Scripts/demo.py) this many times, "
                         "so that timers fire while nodes are killed")
parser.add_argument("--remote", action="store_true", help="intake in a module process of its own, fed by whichever node holds its lease")
parser.add_argument("--module-kills", type=int, default=0, help="with --remote: kill -9 the module process this many times")
parser.add_argument("--bench", action="store_true",
                    help="measure instead: durable acked ingest with one node and with all NODES (publishers spread over them), "
                         "and intake's apply rate on the node that took it over from a killed one, working off the backlog")
args = parser.parse_args()
rng = random.Random(args.seed)
os.makedirs(args.work, exist_ok=True)
psql_binary = (sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or ["psql"])[-1]
problems = []
# A database of its own, so that nothing of an earlier run (leases, tokens, events) counts.
server = args.postgres.rsplit("/", 1)[0]
database = f"wzt_ha_{os.getpid()}"
subprocess.run([psql_binary, "-X", "-q", "-d", args.postgres, "-c", f"CREATE DATABASE {database}"], check=True)
args.postgres = f"{server}/{database}"


def progress(message):
    print(f"ha: {message}", file=sys.stderr, flush=True)


def sql(query):
    """Rows of `query` on the test's server, each a list of text values."""
    out = subprocess.run([psql_binary, "-X", "-q", "-tA", "-F", "\t", "-d", args.postgres, "-c", query],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Node:
    def __init__(self, number):
        self.name = f"core-{chr(ord('a') + number)}"
        self.data = os.path.join(args.work, self.name)
        self.config = self.data + ".toml"
        self.endpoints = [f"tcp://127.0.0.1:{free_port()}" for _ in range(4)]
        remote = f'[modules]\nremote = ["intake"]\n[link]\nendpoint = "{self.endpoints[3]}"\n\n' if args.remote else ""
        with open(self.config, "w") as file:
            file.write(f'[data]\ndir = "{self.data}"\n\n[storage]\ndefault = "{args.postgres}"\nlog = "{args.postgres}"\n\n'
                       f'[ingress]\nendpoint = "{self.endpoints[0]}"\n[egress]\nendpoint = "{self.endpoints[1]}"\n'
                       f'[replay]\nendpoint = "{self.endpoints[2]}"\n[http]\nendpoint = "off"\n\n{remote}'
                       f'[cluster]\nnode = "{self.name}"\nlease_ms = {args.lease_ms}\n')
        self.output = open(self.data + ".log", "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([args.wzt, "serve", "--config", self.config], stdout=subprocess.PIPE, stderr=self.output)
        line = self.process.stdout.readline().decode()
        if not line.startswith("wzt ready"):
            sys.exit(f"ha: {self.name} did not start: {line!r}")


class ModuleProcess(Node):
    """intake alone, in a process of its own, linked to every node (`--remote`)."""
    def __init__(self, nodes):
        self.name = "intake-process"
        self.data = os.path.join(args.work, self.name)
        self.config = self.data + ".toml"
        endpoints = ", ".join(f'"{node.endpoints[3]}"' for node in nodes)
        with open(self.config, "w") as file:
            file.write(f'[data]\ndir = "{self.data}"\n\n[storage]\ndefault = "{args.postgres}"\n\n'
                       f'[modules]\nenabled = ["intake"]\n\n[core]\nendpoints = [{endpoints}]\n')
        self.output = open(self.data + ".log", "ab")
        self.process = None


def owner(module="intake"):
    rows = sql(f"SELECT node, token FROM wzt_log.module_owners WHERE module = '{module}' AND expires_at > clock_timestamp()")
    return (rows[0][0], int(rows[0][1])) if rows else (None, 0)


def wait_for_owner(other_than, since, deadline_s=30):
    """Waits until a node other than `other_than` holds intake's lease; returns the seconds since `since`."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        node, _ = owner()
        if node is not None and node != other_than:
            return time.time() - since
        time.sleep(0.02)
    problems.append(f"no node took intake over from {other_than} within {deadline_s} s")
    return None


def status(node):
    return json.loads(subprocess.run([args.wzt, "status", "--json", "--config", node.config], capture_output=True, check=True).stdout)["subscriptions"]


def intake_lag(node):
    return next((row["lag"] for row in status(node) if row["subscription"] == "intake"), 0)


def module_rows(schema):
    """Every table of `schema` as sorted rows of text, without the columns a rebuild may change."""
    rows = {}
    for (table,) in sql(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' AND table_type = 'BASE TABLE' "
                        "AND table_name NOT IN ('wzt_outbox', 'wzt_migrations', 'wzt_fence')"):
        columns = [column for (column,) in sql(f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' "
                                                f"AND table_name = '{table}' ORDER BY ordinal_position")
                   if column not in ("handled_at", "envelope", "rowid")]
        listed = ", ".join(f'"{column}"' for column in columns)
        rows[table] = sorted("\t".join(row) for row in sql(f'SELECT {listed} FROM "{schema}"."{table}"'))
    return rows


def bench():
    """Prints the rows of `Scripts/bench --cluster` as JSON lines."""
    nodes[0].start()
    def ingest(targets, first_case):
        files = [os.path.join(args.work, f"bench-{first_case}-{n}.txt") for n in range(args.publishers)]
        started = time.time()
        running = [subprocess.Popen([sys.executable, os.path.join(here, "crash_publisher.py"), targets[n % len(targets)].endpoints[0], str(args.events),
                                     files[n], str(first_case + n * args.events)]) for n in range(args.publishers)]
        for publisher in running:
            if publisher.wait(timeout=900) != 0:
                sys.exit("ha: a publisher did not get every event acked")
        return args.publishers * args.events / (time.time() - started)
    one = ingest(nodes[:1], 0)
    for node in nodes[1:]:
        node.start()
    every = ingest(nodes, 10_000_000)
    print(json.dumps({"row": f"ingest, {len(nodes)} nodes / 1 node", "events": args.publishers * args.events, "oneNode": round(one),
                      "allNodes": round(every), "ratio": round(every / one, 2)}), flush=True)
    # Intake works off what it has not applied yet on the node that takes it over.
    name, _ = owner()
    victim = by_name[name]
    survivor = next(node for node in nodes if node is not victim)
    victim.process.kill()
    victim.process.wait()
    killed = time.time()
    wait_for_owner(name, killed)
    taken = time.time()
    backlog = intake_lag(survivor)
    while intake_lag(survivor) > 0:
        time.sleep(0.2)
    drained = time.time() - taken
    print(json.dumps({"row": "intake after takeover: backlog worked off", "takeoverSeconds": round(taken - killed, 2), "backlog": backlog,
                      "seconds": round(drained, 2), "eventsPerSecond": round(backlog / drained) if drained > 0 else None}), flush=True)
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
            node.process.wait(timeout=60)


nodes = [Node(n) for n in range(args.nodes)]
by_name = {node.name: node for node in nodes}
if args.bench:
    bench()
    sys.exit(1 if problems else 0)
module_process = ModuleProcess(nodes) if args.remote else None
for node in nodes + ([module_process] if module_process else []):
    node.start()
ack_files = [os.path.join(args.work, f"acked-{n}.txt") for n in range(args.publishers)]
publishers = [subprocess.Popen([sys.executable, os.path.join(here, "crash_publisher.py"), nodes[n % len(nodes)].endpoints[0], str(args.events),
                                ack_files[n], str(n * args.events)]) for n in range(args.publishers)]
# Their dates lie months back, so the deadlines they schedule are due at once and fire meanwhile.
timed_scenarios = ["mandating-2014-admissibility-overdue", "mandating-2022-call-five-year-mandate", "intake-18-month-limit-and-extension",
                   "intake-on-hold-moves-the-limit", "time-terms-end-at-midnight-in-brussels", "networks-referral-waitlisted-then-accepted"]
demo = None
if args.scenarios:
    demo = subprocess.Popen([sys.executable, os.path.join(here, "..", "..", "..", "Scripts", "demo.py"), nodes[0].endpoints[0], args.wzt, nodes[0].data,
                             "--replicas", str(args.scenarios), "--config", nodes[0].config] + [f"--scenario={name}" for name in timed_scenarios],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
faults = ["kill"] * args.kills + ["stop"] * args.stops + ["module"] * (args.module_kills if module_process else 0)
rng.shuffle(faults)
takeovers = []
for number, how in enumerate(faults, 1):
    time.sleep(rng.uniform(0.3, 1.5))
    if how == "module":
        module_process.process.kill()
        module_process.process.wait()
        module_process.start()
        progress(f"fault {number}/{len(faults)}: kill -9 of the module process")
        continue
    name, _ = owner()
    if name is None:
        time.sleep(0.5)
        name, _ = owner()
    if name is None:
        problems.append("nobody held intake's lease")
        continue
    victim = by_name[name]
    if how == "kill":
        victim.process.kill()
        started = time.time()
        victim.process.wait()
        taken = wait_for_owner(name, started)
        victim.start()
    else:
        victim.process.send_signal(signal.SIGSTOP)
        started = time.time()
        taken = wait_for_owner(name, started)
        time.sleep(max(0.0, 2 * args.lease_ms / 1000 - (time.time() - started)))
        victim.process.send_signal(signal.SIGCONT)
    if taken is not None:
        takeovers.append(taken)
    progress(f"fault {number}/{len(faults)}: {'kill -9' if how == 'kill' else 'SIGSTOP'} of {name}, "
             f"intake taken over in {taken if taken is None else round(taken, 2)} s")
for publisher in publishers:
    ended = wait_or_kill(publisher, 600)
    if ended != 0:
        problems.append("a publisher did not get every event acked" if ended is not None else "a publisher did not finish within 600 s")
played = {}
if demo is not None:
    try:
        output, _ = demo.communicate(timeout=600)
        played = json.loads(output.decode().strip().splitlines()[-1]) if output.strip() else {}
        if demo.returncode != 0 or played.get("nack", 0) or played.get("ack") != played.get("events"):
            problems.append(f"the scenarios were not all acked: {played}")
    except subprocess.TimeoutExpired:
        demo.kill()
        problems.append("the scenarios did not finish within 600 s")

# Every module caught up: no event of its types beyond its cursor.
modules = status(nodes[0])
deadline = time.time() + 180
while time.time() < deadline:
    modules = status(nodes[0])
    if modules and all(row["lag"] == 0 for row in modules):
        break
    time.sleep(0.5)
else:
    problems.append("modules did not catch up within 180 s")
# intake's tables against a rebuild from the log, while the nodes run: the command takes intake
# from the node that runs it, swaps the rebuilt schema in and keeps the live one beside it; then a
# node takes intake up again. A module process holds its schema alone: it is stopped first.
if module_process:
    module_process.process.terminate()
    if wait_or_kill(module_process.process, 60) != 0:
        problems.append("the module process did not stop in order on SIGTERM")
rebuild_from, _ = owner()
rebuild = subprocess.run([args.wzt, "modules", "rebuild", "intake", "--config", nodes[0].config], capture_output=True, text=True)
rebuild_differs, rebuild_compared = [], 0
if rebuild.returncode != 0 or "failed" in rebuild.stdout:
    problems.append(f"wzt modules rebuild intake: exit {rebuild.returncode}: {rebuild.stdout.strip()} {rebuild.stderr.strip()[-500:]}")
else:
    live, rebuilt = module_rows("intake_before_rebuild"), module_rows("intake")
    rebuild_differs = [table for table in sorted(set(live) | set(rebuilt)) if live.get(table) != rebuilt.get(table)]
    rebuild_compared = sum(len(rows) for rows in live.values())
    if not live.get("wzt_inbox"):
        problems.append("intake's inbox is empty: nothing to compare with a rebuild")
    deadline = time.time() + 30
    while owner()[0] in (None, "wzt-modules-rebuild") and time.time() < deadline:
        time.sleep(0.1)
    if owner()[0] in (None, "wzt-modules-rebuild"):
        problems.append("no node took intake up again within 30 s of the rebuild")

for node in nodes:
    node.process.terminate()
    ended = wait_or_kill(node.process, 60)
    if ended != 0:
        problems.append(f"final SIGTERM of {node.name}: exit {ended}" if ended is not None else f"{node.name} did not stop within 60 s of SIGTERM")

acked, nacked = read_acks(ack_files)
requests = {row[0] for row in sql("SELECT id FROM wzt_log.events WHERE type = 'be.wzt.intake.screening-requested'")}
found, lost = len(acked & requests), len(acked - requests)
requested_per_case = {}
for (case,) in sql("SELECT convert_from(envelope, 'UTF8')::json->'data'->>'caseId' FROM wzt_log.events "
                   "WHERE type = 'be.wzt.intake.case-status-changed' AND convert_from(envelope, 'UTF8')::json->'data'->>'status' = 'requested'"):
    requested_per_case[case] = requested_per_case.get(case, 0) + 1
duplicates = sum(count - 1 for count in requested_per_case.values())
not_applied = len(requests) - len(requested_per_case)
twins = int(sql("SELECT COUNT(*) FROM (SELECT 1 FROM wzt_log.events e WHERE convert_from(e.envelope, 'UTF8')::json->>'source' LIKE '/wzt/%' "
                "AND convert_from(e.envelope, 'UTF8')::json->>'causationid' IS NOT NULL "
                "GROUP BY e.type, convert_from(e.envelope, 'UTF8')::json->>'causationid', (convert_from(e.envelope, 'UTF8')::jsonb->'data')::text "
                "HAVING COUNT(*) > 1) AS twins")[0][0])
dead_letters = int(sql("SELECT COUNT(*) FROM wzt_log.dead_letters")[0][0])
# Deadlines that fired: each published once (a twin above would be a timer fired on two nodes).
fired = sum(int(sql(f"SELECT COUNT(*) FROM \"{module}\".wzt_timers WHERE status = 'fired'")[0][0])
            for module in ["intake", "mandating", "networks", "ama", "gbo-onboarding", "notifications"]
            if sql(f"SELECT to_regclass('\"{module}\".wzt_timers') IS NOT NULL")[0][0] == "t")
ahead = 0
for row in modules:
    if row["subscription"] in ("privacy", "retention"):
        continue  # the bus's own subscriptions keep no module store
    inbox = {event_id for (event_id,) in sql(f'SELECT event_id FROM "{row["subscription"]}".wzt_inbox')}
    for event_id, event_type in sql(f'SELECT id, type FROM wzt_log.events WHERE "offset" <= {row["cursor"]}'):
        if any(fnmatch.fnmatchcase(event_type, pattern) for pattern in row["patterns"]) and event_id not in inbox:
            ahead += 1

ordered = sorted(takeovers)
percentile = (lambda p: round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)) if ordered else (lambda p: None)
summary = {"rebuildTookIntakeFrom": rebuild_from, "nodes": args.nodes, "kills": args.kills, "stops": args.stops, "remote": args.remote,
           "moduleKills": args.module_kills if module_process else 0, "leaseMs": args.lease_ms, "acked": len(acked), "found": found,
           "lost": lost, "nacked": nacked, "duplicatesApplied": duplicates, "notApplied": not_applied, "twins": twins,
           "cursorAheadOfState": ahead, "deadLetters": dead_letters, "rebuildDiffers": rebuild_differs, "rebuildComparedRows": rebuild_compared, "scenarioEvents": played.get("events", 0), "timersFired": fired,
           "takeoverSeconds": {"p50": percentile(0.5), "p99": percentile(0.99), "max": ordered[-1] if ordered else None,
                               "mean": round(statistics.mean(ordered), 2) if ordered else None},
           "problems": problems}
print(json.dumps(summary), flush=True)
print(f"ha: {args.nodes} nodes{', intake in a module process' if module_process else ''}, "
      f"{args.kills} kill -9 and {args.stops} SIGSTOP of intake's node: events acked {len(acked)}, "
      f"found {found}, lost {lost}, applied twice {duplicates}, twins {twins}; takeover p50 {percentile(0.5)} s, p99 {percentile(0.99)} s",
      file=sys.stderr)
expected = args.publishers * args.events
ok = (len(acked) == expected and lost == 0 and nacked == 0 and duplicates == 0 and not_applied == 0 and twins == 0 and ahead == 0
      and dead_letters == 0 and not rebuild_differs and not problems)
sys.exit(0 if ok else 1)
