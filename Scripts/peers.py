"""Durable acked publishing: wzt next to NATS JetStream and RabbitMQ, on this machine, in one run.

usage: peers.py WZT_BINARY [--publishers 4] [--window 64] [--events 10000] [--ids v7|v4] [--rounds 3]
                          [--wzt-acks grouped|single] [--strace] [--nats-sync NATS_SERVER_BINARY]

Each system gets the same payload (the envelope of a real domain event, about 600 bytes), the
same number of publisher processes and the same window of unacknowledged messages per publisher;
each publisher builds its events before the clock starts and all start together:
  wzt       pyzmq DEALER to `wzt serve`; acked after the group commit with synchronous=FULL,
            the acks of one commit in one reply (`group-acks`; --wzt-acks single: one each);
            the publisher reads every reply already there before it polls again
  NATS      nats-py JetStream publish to a file-storage stream; acked by one PubAck each. The
            Debian server (2.9) acks before it syncs; with --nats-sync, a 2.10 or later server
            runs as well with `sync_interval: always`, which syncs every write before its ack,
            as wzt and RabbitMQ do
  RabbitMQ  pika with publisher confirms to a durable quorum queue, persistent messages; the
            broker confirms many messages in one frame (`multiple`)
Every acked message is read back from the store afterwards (wzt: the log file; NATS: a consumer
over the stream; RabbitMQ: draining the queue) and a missing one fails the run. Event ids are
UUIDv7 by default, as wzt's own clients make them (they sort by time); --ids v4 gives random ones,
which cost wzt's log a page of its id index per event (docs/performance.md). With --strace,
each server runs under `strace -f -e trace=fsync,fdatasync -c` and the calls are counted.
The systems run in turns, --rounds times each (a round starts with the next system), and the
table gives each measure's median over the rounds: a small machine's speed can drift by a third
within minutes, so one run of each says little. The table (Markdown) has events/s, ack latency
p50/p99, the CPU time the server and the publishers used per event (on a small machine they
share its cores), the bytes the server sent towards the disk per event (/proc/PID/io
write_bytes), fsync calls and server RSS. Below it, wzt's ratio to each peer within each round
and the median of those ratios, which a drifting machine moves less than the ratio of medians.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

parser = argparse.ArgumentParser()
parser.add_argument("wzt")
parser.add_argument("--publishers", type=int, default=4)
parser.add_argument("--window", type=int, default=64)
parser.add_argument("--events", type=int, default=10_000, help="per publisher")
parser.add_argument("--ids", choices=["v7", "v4"], default="v7", help="UUID version of the event ids")
parser.add_argument("--rounds", type=int, default=3, help="each system this many times, in turns; medians are printed")
parser.add_argument("--wzt-acks", choices=["grouped", "single"], default="grouped",
                    help="wzt's publishers ask for the acks of a commit in one reply, or get one reply per event")
parser.add_argument("--wzt-modules", choices=["none", "default"], default="none",
                    help="none: the broker's job only, as for the peers; default: wzt serve with its default modules hosted, applying what is published")
parser.add_argument("--strace", action="store_true")
parser.add_argument("--nats-sync", metavar="NATS_SERVER_BINARY",
                    help="a nats-server of 2.10 or later, run as a further system with sync_interval: always")
args = parser.parse_args()


def make_id():
    if args.ids == "v4":
        return str(uuid.uuid4())
    # RFC 9562: 48 bits of Unix milliseconds, version 7, 12 + 62 random bits, variant 10.
    random = int.from_bytes(os.urandom(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (random >> 64) << 64 | 0b10 << 62 | random & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def envelope(number, publisher):
    """A screening request as VDAB's intake system sends it, padded to about 600 bytes."""
    event_id = make_id()
    document = {
        "specversion": "1.0", "id": event_id, "source": "/agency/vdab/intake", "type": "be.wzt.intake.screening-requested",
        "time": "2026-11-23T10:15:00Z", "subject": f"case-{publisher}-{number}", "datacontenttype": "application/json", "dataversion": 1,
        "actor": "c-17", "actorrole": "vdab-counsellor", "actoragency": "vdab", "purpose": "activation-trajectory",
        "data": {"caseId": f"case-{publisher}-{number}", "insz": "85073003328", "region": "flanders", "requestedBy": "counsellor",
                 "requestedOn": "2026-11-23", "office": "Gent, Kortrijksesteenweg 1100 - team arbeidsbemiddeling en zorg",
                 "counsellorId": "c-17"},
    }
    body = json.dumps(document)
    document["data"]["office"] += " " * max(0, 600 - len(body))
    return event_id, json.dumps(document).encode()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"peers: nothing listens on port {port} after {seconds} s")


def rss_mib(pid):
    """Resident memory of a server and the processes it started (RabbitMQ runs the Erlang VM as a child)."""
    total = 0
    for each in descendants(pid):
        try:
            for line in open(f"/proc/{each}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def server_usage(pid):
    """CPU seconds (user and system) a server and the processes it started have used so far, and
    the bytes they have sent towards the disk."""
    ticks, written = 0, 0
    for each in descendants(pid):
        try:
            fields = open(f"/proc/{each}/stat").read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            written += next(int(line.split()[1]) for line in open(f"/proc/{each}/io") if line.startswith("write_bytes:"))
        except (FileNotFoundError, IndexError, StopIteration):
            pass
    return ticks / os.sysconf("SC_CLK_TCK"), written


def descendants(pid):
    found = [pid]
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        found += descendants(int(child))
    return found


def trace(pid, log_path):
    """strace attached to a running server and all its processes, counting fsync and fdatasync."""
    if not args.strace:
        return None
    command = ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-c", "-o", log_path]
    for each in descendants(pid):
        command += ["-p", str(each)]
    tracer = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return tracer


def fsync_calls(tracer, log_path):
    """Detaches strace (it writes its count on SIGINT) and reads the number of calls."""
    if tracer is None:
        return None
    tracer.send_signal(2)
    tracer.wait(timeout=30)
    calls = 0
    for line in open(log_path):
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in ("fsync", "fdatasync"):
            calls += int(fields[3])
    return calls


# --- publishers: one process each, returning (acked ids, latencies in seconds) -----------------

def publish_wzt(endpoint, events):
    import zmq
    sock = zmq.Context().socket(zmq.DEALER)
    sock.connect(endpoint)
    header = [b"group-acks"] if args.wzt_acks == "grouped" else []

    def waiting_reply():
        try:
            return sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None

    sent_at, acked, latencies, number = {}, [], [], 0
    while len(acked) < args.events:
        while number < args.events and len(sent_at) < args.window:
            event_id, body = events[number]
            number += 1
            sent_at[event_id] = time.perf_counter()
            sock.send_multipart(header + [body])
        # Every reply that is here already, and a poll only when none is: a poll per reply cost the
        # publishers about 7 % of their CPU (pika and nats-py, too, read many acks per socket read).
        frame = waiting_reply()
        if frame is None:
            if not sock.poll(30_000):
                break
            frame = sock.recv()
        while frame is not None:
            reply = json.loads(frame)
            now = time.perf_counter()
            # Grouped: ["id", offset] (and true for a duplicate) per acked event; else one reply.
            for event_id in [ack[0] for ack in reply["acks"]] if reply["status"] == "acks" else [reply["id"]]:
                started = sent_at.pop(event_id, None)
                if reply["status"] != "nack" and started is not None:
                    latencies.append(now - started)
                    acked.append(event_id)
            frame = waiting_reply()
    return acked, latencies


def publish_nats(port, events):
    import nats

    async def run():
        client = await nats.connect(f"nats://127.0.0.1:{port}")
        stream = client.jetstream()
        acked, latencies = [], []
        window = asyncio.Semaphore(args.window)

        async def one(number):
            async with window:
                event_id, body = events[number]
                started = time.perf_counter()
                await stream.publish("wzt.events", body, headers={"Nats-Msg-Id": event_id}, timeout=30)
                latencies.append(time.perf_counter() - started)
                acked.append(event_id)

        await asyncio.gather(*(one(n) for n in range(args.events)))
        await client.close()
        return acked, latencies

    return asyncio.run(run())


def publish_rabbitmq(port, events):
    import pika
    connection = pika.SelectConnection(pika.ConnectionParameters("127.0.0.1", port))
    state = {"number": 0, "tag": 0, "outstanding": {}, "acked": [], "latencies": []}

    def publish_more(channel):
        while state["number"] < args.events and len(state["outstanding"]) < args.window:
            event_id, body = events[state["number"]]
            state["number"] += 1
            state["tag"] += 1
            state["outstanding"][state["tag"]] = (event_id, time.perf_counter())
            channel.basic_publish("", "wzt", body, pika.BasicProperties(delivery_mode=2, message_id=event_id))

    def confirmed(frame, channel):
        tag, multiple = frame.method.delivery_tag, frame.method.multiple
        if frame.method.NAME != "Basic.Ack":
            sys.exit("peers: RabbitMQ nacked a message")
        done = [t for t in state["outstanding"] if t <= tag] if multiple else [tag]
        now = time.perf_counter()
        for t in done:
            event_id, started = state["outstanding"].pop(t)
            state["acked"].append(event_id)
            state["latencies"].append(now - started)
        if len(state["acked"]) == args.events:
            connection.close()
        else:
            publish_more(channel)

    def opened(channel):
        channel.confirm_delivery(lambda frame: confirmed(frame, channel))
        publish_more(channel)

    def on_open(conn):
        conn.channel(on_open_callback=opened)

    connection.add_on_open_callback(on_open)
    connection.add_on_open_error_callback(lambda conn, error: sys.exit(f"peers: cannot connect to RabbitMQ: {error}"))
    connection.add_on_close_callback(lambda conn, reason: conn.ioloop.stop())
    connection.ioloop.start()
    return state["acked"], state["latencies"]


def publisher_process(target, address, publisher, ready, start, results):
    """One publisher: builds its events, waits for the start, publishes them with `target`, and
    returns what was acked, the latencies and the CPU seconds it used from the start on."""
    # Built before the clock starts: building a document costs a Python publisher about 30 us,
    # which on a small machine is taken from the server under test, the same for every system.
    events = [envelope(number, publisher) for number in range(args.events)]
    ready.put(publisher)
    start.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    acked, latencies = target(address, events)
    after = resource.getrusage(resource.RUSAGE_SELF)
    results.put((acked, latencies, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))


def drive(target, address, server_pid):
    """Runs the publishers; also returns the CPU seconds the server and the publishers used meanwhile, and the bytes the server wrote."""
    results, ready, start = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
    workers = [multiprocessing.Process(target=publisher_process, args=(target, address, n, ready, start, results)) for n in range(args.publishers)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=600)
    server_before = server_usage(server_pid)
    started = time.perf_counter()
    start.set()
    collected = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    server_after = server_usage(server_pid)
    server_cpu, written = server_after[0] - server_before[0], server_after[1] - server_before[1]
    for worker in workers:
        worker.join()
    clients_cpu = sum(cpu for _, _, cpu in collected)
    acked = [event_id for ids, _, _ in collected for event_id in ids]
    latencies = sorted(latency for _, values, _ in collected for latency in values)
    return acked, latencies, elapsed, (server_cpu, clients_cpu, written)


# --- servers ----------------------------------------------------------------------------------

def run_wzt(directory):
    ports = [free_port() for _ in range(3)]
    log = os.path.join(directory, "strace-wzt.txt")
    # By default the broker's job only, as for the peers: no modules consuming in the same process.
    config = os.path.join(directory, "wzt.toml")
    with open(config, "w") as out:
        out.write("[modules]\nenabled = []\n" if args.wzt_modules == "none" else "")
    server = subprocess.Popen([args.wzt, "serve", "--config", config, "--data-dir", os.path.join(directory, "data"), "--ingress", f"tcp://127.0.0.1:{ports[0]}",
                               "--egress", f"tcp://127.0.0.1:{ports[1]}", "--replay", f"tcp://127.0.0.1:{ports[2]}", "--http", "off"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if not server.stdout.readline().startswith(b"wzt ready"):
        sys.exit("peers: wzt serve did not start")
    tracer = trace(server.pid, log)
    acked, latencies, elapsed, usage = drive(publish_wzt, f"tcp://127.0.0.1:{ports[0]}", server.pid)
    rss = rss_mib(server.pid)
    fsyncs = fsync_calls(tracer, log)
    server.terminate()
    server.wait()
    stored = {row[0] for row in sqlite3.connect(os.path.join(directory, "data", "log.sqlite")).execute("SELECT id FROM events")}
    return acked, latencies, elapsed, usage, rss, stored, fsyncs


def run_nats(directory, binary="nats-server", sync_always=False):
    port = free_port()
    log = os.path.join(directory, "strace-nats.txt")
    config = os.path.join(directory, "nats.conf")
    with open(config, "w") as out:
        out.write(f"jetstream {{\n  store_dir: {json.dumps(os.path.join(directory, 'nats'))}\n")
        if sync_always:
            out.write("  sync_interval: always\n")
        out.write("}\n")
    server = subprocess.Popen([binary, "-c", config, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)

    async def create_stream():
        import nats
        client = await nats.connect(f"nats://127.0.0.1:{port}")
        await client.jetstream().add_stream(name="WZT", subjects=["wzt.>"], storage="file", duplicate_window=120)
        await client.close()

    asyncio.run(create_stream())
    tracer = trace(server.pid, log)
    acked, latencies, elapsed, usage = drive(publish_nats, port, server.pid)
    rss = rss_mib(server.pid)
    fsyncs = fsync_calls(tracer, log)

    async def read_back():
        import nats
        client = await nats.connect(f"nats://127.0.0.1:{port}")
        stream = client.jetstream()
        consumer = await stream.pull_subscribe("wzt.>", durable="readback")
        stored = set()
        while True:
            try:
                messages = await consumer.fetch(1000, timeout=2)
            except Exception:
                break
            for message in messages:
                stored.add(message.headers.get("Nats-Msg-Id"))
                await message.ack()
        await client.close()
        return stored

    stored = asyncio.run(read_back())
    server.terminate()
    server.wait()
    return acked, latencies, elapsed, usage, rss, stored, fsyncs


def run_rabbitmq(directory):
    port, dist = free_port(), free_port()
    base = os.path.join(directory, "rabbitmq")
    os.makedirs(base)
    with open(os.path.join(base, "enabled_plugins"), "w") as plugins:
        plugins.write("[].\n")
    node = f"wztpeers{port}@localhost"
    environment = dict(os.environ, HOME=base, RABBITMQ_MNESIA_BASE=base + "/mnesia", RABBITMQ_LOG_BASE=base + "/log",
                       RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(dist), RABBITMQ_NODENAME=node,
                       RABBITMQ_ENABLED_PLUGINS_FILE=base + "/enabled_plugins", RABBITMQ_CONFIG_FILE=base + "/rabbitmq")
    log = os.path.join(directory, "strace-rabbitmq.txt")
    server = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, seconds=120)
    import pika
    setup = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    setup.channel().queue_declare("wzt", durable=True, arguments={"x-queue-type": "quorum"})
    setup.close()
    tracer = trace(server.pid, log)
    acked, latencies, elapsed, usage = drive(publish_rabbitmq, port, server.pid)
    rss = rss_mib(server.pid)
    fsyncs = fsync_calls(tracer, log)
    reader = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = reader.channel()
    stored = set()
    while True:
        method, properties, _ = channel.basic_get("wzt", auto_ack=True)
        if method is None:
            break
        stored.add(properties.message_id)
    reader.close()
    subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", node, "stop"], env=environment, capture_output=True)
    server.wait(timeout=60)
    return acked, latencies, elapsed, usage, rss, stored, fsyncs


def percentile(values, fraction):
    return values[min(len(values) - 1, int(fraction * len(values)))] * 1000 if values else float("nan")


systems = [
    ("wzt", run_wzt, "ack after the group commit is fsync'd (SQLite synchronous=FULL), "
     + ("the acks of a commit in one reply" if args.wzt_acks == "grouped" else "one reply per event") + ("; no modules hosted" if args.wzt_modules == "none" else "; its default modules hosted")),
    ("NATS JetStream 2.9", run_nats, "file storage; 2.9 acks before it syncs (no sync_interval setting)"),
    ("RabbitMQ 3.10", run_rabbitmq, "quorum queue, persistent messages, publisher confirms"),
]
if args.nats_sync:
    if not (os.path.isfile(args.nats_sync) and os.access(args.nats_sync, os.X_OK)):
        sys.exit(f"peers: --nats-sync: {args.nats_sync} is not an executable file (Scripts/bench --peers installs one)")
    version = subprocess.run([args.nats_sync, "--version"], capture_output=True, text=True).stdout.strip().rsplit("v", 1)[-1]
    if tuple(int(part) for part in version.split(".")[:2] if part.isdigit()) < (2, 10):
        sys.exit(f"peers: --nats-sync needs nats-server 2.10 or later (sync_interval: always); {args.nats_sync} is {version or 'unknown'}")
    systems.append((f"NATS JetStream {version}, synced", lambda directory: run_nats(directory, args.nats_sync, sync_always=True),
                    "file storage, sync_interval: always (each write synced before its ack)"))
rounds, failures = {name: [] for name, _, _ in systems}, []
for round_number in range(args.rounds):
    # Each round starts with the next system, so that a machine speeding up or slowing down
    # within the run does not always favour the same one.
    for name, runner, note in systems[round_number % len(systems):] + systems[:round_number % len(systems)]:
        directory = tempfile.mkdtemp(prefix="wzt-peers-")
        print(f"peers: round {round_number + 1} of {args.rounds}: {name} ...", file=sys.stderr, flush=True)
        acked, latencies, elapsed, usage, rss, stored, fsyncs = runner(directory)
        missing = len(set(acked) - stored)
        expected = args.publishers * args.events
        if len(acked) != expected or missing:
            failures.append(f"{name}: {len(acked)} of {expected} acked, {missing} acked but not read back")
        per_event = max(1, len(acked))
        rounds[name].append({"rate": len(acked) / elapsed, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                             "serverCPU": 1e6 * usage[0] / per_event, "clientCPU": 1e6 * usage[1] / per_event, "written": usage[2] / 1024 / per_event,
                             "rss": rss, "fsyncs": fsyncs, "readBack": len(acked) - missing, "acked": len(acked)})
        shutil.rmtree(directory, ignore_errors=True)


def middle(values):
    return sorted(values)[len(values) // 2]


def median(name, key):
    return middle([result[key] for result in rounds[name]])


print(f"\n{args.publishers} publishers x {args.events} events, {args.window} in flight each, ~600 B payload, UUID{args.ids} ids; "
      f"medians of {args.rounds} rounds (events/s of each round in brackets)\n")
print("| system | events/s | ack p50 ms | ack p99 ms | wzt ratio | server CPU µs/event | publishers' CPU µs/event | written KiB/event | fsync calls | RSS MiB | read back | durability |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
wzt_rate = median("wzt", "rate")
for name, _, note in systems:
    rate = median(name, "rate")
    each = ", ".join(f"{result['rate']:,.0f}" for result in rounds[name])
    ratio = "1.00" if name == "wzt" else f"{wzt_rate / rate:.2f}"
    fsyncs = "-" if rounds[name][0]["fsyncs"] is None else str(median(name, "fsyncs"))
    read_back = f"{sum(r['readBack'] for r in rounds[name])}/{sum(r['acked'] for r in rounds[name])}"
    print(f"| {name} | {rate:,.0f} ({each}) | {median(name, 'p50'):.1f} | {median(name, 'p99'):.1f} | {ratio} | {median(name, 'serverCPU'):.0f} | "
          f"{median(name, 'clientCPU'):.0f} | {median(name, 'written'):.1f} | {fsyncs} | {median(name, 'rss'):.0f} | {read_back} | {note} |")
# Within a round the systems run a minute or two apart, so a machine that speeds up or slows down
# between rounds moves them together: the median of these ratios is the steadier comparison.
print()
for name, _, _ in systems[1:]:
    ratios = [wzt["rate"] / peer["rate"] for wzt, peer in zip(rounds["wzt"], rounds[name])]
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(f"wzt / {name} within each round: {each}; median {middle(ratios):.2f}")
if failures:
    print("\npeers: FAILED: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
