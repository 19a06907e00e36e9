"""The PostgreSQL primary under a cluster of core nodes dies and its streaming replica takes over.

usage: pg_failover.py WZT_BINARY WORK_DIR [--mode sync|async] [--nodes 2] [--publishers 2] [--events 1500]

Starts a primary (Scripts/postgres start) and a streaming replica of it (Scripts/postgres standby),
synchronous with --mode sync (`synchronous_standby_names = '*'`), asynchronous otherwise. The nodes
reach the database through a TCP proxy on a port of its own, which stands for the address
operators move on failover (a virtual IP, a DNS name, PgBouncer). While pyzmq publishers send
screening requests to the nodes, the primary is stopped as by a power cut (pg_ctl stop -m
immediate), the replica promoted (pg_ctl promote) and the proxy pointed at it, which cuts every
connection the nodes had.
Then: every acked event must be in the new primary's log (lost counts those that are not: with
an asynchronous replica, what it had not received yet); the nodes must ack again without being
restarted (recoverySeconds: from the stop to the first ack after it); every event acked after the
switch is there too. Prints one JSON summary line; exits 1 when, with --mode sync, an acked event
is lost, or in either mode the nodes do not recover.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

from wzt_client import read_acks, wait_or_kill

here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(here, "..", "..", "..", "Scripts", "postgres")
parser = argparse.ArgumentParser()
parser.add_argument("wzt")
parser.add_argument("work")
parser.add_argument("--mode", choices=["sync", "async"], default="sync")
parser.add_argument("--nodes", type=int, default=2)
parser.add_argument("--publishers", type=int, default=2)
parser.add_argument("--events", type=int, default=1500)
args = parser.parse_args()
os.makedirs(args.work, exist_ok=True)
problems = []


def postgres(*arguments):
    return subprocess.run(["bash", script, *arguments], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1:] or [""]


def psql(url, query):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-d", url, "-c", query], capture_output=True, text=True, check=True).stdout.strip()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Proxy(threading.Thread):
    """Forwards 127.0.0.1:port to the current target; `point` moves it and cuts every connection."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = []
        self.lock = threading.Lock()

    def run(self):
        while True:
            client, _ = self.listener.accept()
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for source, sink in [(client, server), (server, client)]:
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def point(self, target):
        self.target = target
        with self.lock:
            for connection in self.open:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open = []


primary_dir, standby_dir = os.path.join(args.work, "primary"), os.path.join(args.work, "standby")
primary = postgres("start", primary_dir)[0]
standby = postgres("standby", standby_dir, primary_dir)[0]
if args.mode == "sync":
    psql(primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
    psql(primary, "SELECT pg_reload_conf()")
deadline = time.time() + 30
wanted = "sync" if args.mode == "sync" else "async"
while psql(primary, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication") != wanted:
    if time.time() > deadline:
        sys.exit(f"pg_failover: the replica is not {wanted}: {psql(primary, 'SELECT sync_state FROM pg_stat_replication')!r}")
    time.sleep(0.2)
proxy = Proxy(int(primary.rsplit(":", 1)[1].split("/")[0]))
proxy.start()
address = f"postgres://wzt@127.0.0.1:{proxy.port}/postgres"

nodes = []
for number in range(args.nodes):
    name = f"core-{chr(ord('a') + number)}"
    config = os.path.join(args.work, name + ".toml")
    ingress = f"tcp://127.0.0.1:{free_port()}"
    with open(config, "w") as file:
        file.write(f'[data]\ndir = "{os.path.join(args.work, name)}"\n\n[storage]\ndefault = "{address}"\nlog = "{address}"\n\n'
                   f'[ingress]\nendpoint = "{ingress}"\n[egress]\nendpoint = "tcp://127.0.0.1:{free_port()}"\n'
                   f'[replay]\nendpoint = "tcp://127.0.0.1:{free_port()}"\n[http]\nendpoint = "off"\n\n[cluster]\nnode = "{name}"\n')
    process = subprocess.Popen([args.wzt, "serve", "--config", config], stdout=subprocess.PIPE, stderr=open(config + ".log", "ab"))
    line = process.stdout.readline().decode()
    if not line.startswith("wzt ready"):
        sys.exit(f"pg_failover: {name} did not start: {line!r}")
    nodes.append((process, ingress))

ack_files = [os.path.join(args.work, f"acked-{n}.txt") for n in range(args.publishers)]
publishers = [subprocess.Popen([sys.executable, os.path.join(here, "crash_publisher.py"), nodes[n % len(nodes)][1], str(args.events), ack_files[n],
                                str(n * args.events)]) for n in range(args.publishers)]


def acks_so_far():
    return sum(sum(1 for line in open(path) if line.strip() and not line.startswith("NACK")) for path in ack_files if os.path.exists(path))


# Once a good part is acked, the primary dies mid-stream.
while acks_so_far() < args.publishers * args.events // 3:
    time.sleep(0.05)
acked_before = acks_so_far()
stopped = time.time()
postgres("crash", primary_dir)
postgres("promote", standby_dir)
proxy.point(int(standby.rsplit(":", 1)[1].split("/")[0]))
recovery = None
while recovery is None and time.time() < stopped + 120:
    if acks_so_far() > acked_before:
        recovery = time.time() - stopped
    time.sleep(0.05)
if recovery is None:
    problems.append("no node acked an event within 120 s of the failover")
for publisher in publishers:
    ended = wait_or_kill(publisher, 300)
    if ended != 0:
        problems.append(f"a publisher ended with exit {ended} (not every event answered)" if ended is not None
                        else "a publisher did not finish within 300 s")
for process, _ in nodes:
    process.terminate()
    ended = wait_or_kill(process, 60)
    if ended != 0:
        problems.append(f"SIGTERM of a node: exit {ended}" if ended is not None else "a node did not stop within 60 s of SIGTERM")

acked, nacked = read_acks(ack_files)
stored = set(psql(standby, "SELECT id FROM wzt_log.events").split())
lost = len(acked - stored)
postgres("stop", standby_dir)
summary = {"mode": args.mode, "nodes": args.nodes, "acked": len(acked), "ackedBeforeFailover": acked_before, "nacked": nacked, "lost": lost,
           "recoverySeconds": None if recovery is None else round(recovery, 2), "problems": problems}
print(json.dumps(summary), flush=True)
print(f"pg_failover: {args.mode} replica: {len(acked)} acked ({acked_before} before the primary died), {lost} of them lost, "
      f"{nacked} nacked meanwhile, acks again after {summary['recoverySeconds']} s", file=sys.stderr)
sys.exit(1 if problems or (args.mode == "sync" and lost) else 0)
