"""docs/migrating.md under write load, both ways: a Patroni cluster with HAProxy in front becomes a
pgha cluster (pgha-agent on every node, pgha-proxy in front) node by node, then goes back.

Forward: each replica's Patroni is replaced by pgha-agent on the same data directory (same
patroni.yml, same REST port, so HAProxy's checks keep working); `patronictl switchover` moves the
leader from Patroni to a pgha-agent member; the former leader is migrated last; then pgha-proxy,
loading HAProxy's own haproxy.cfg, starts on the same ports beside HAProxy (SO_REUSEPORT) and
HAProxy is soft-stopped (SIGUSR1), with net.ipv4.tcp_migrate_req=1 so that connections queued on
HAProxy's listener move to pgha-proxy's instead of being reset. Backward: HAProxy replaces
pgha-proxy the same way (pgha-proxy's SIGTERM), each replica goes back to Patroni, `pghactl
switchover` moves the leader to a Patroni member, the former leader goes back last.

Throughout: writers through :5432 (tools/pgha_campaign.py's, half on a new connection per insert,
half on a held one) record every acknowledged id; a prober opens fresh connections to :5432 in a
loop (connect, SELECT 1, disconnect) and counts each failed one; samplers ask every node directly
whether it takes writes. Asserted each way: every acknowledged id is on the final leader, no
refused or reset connection while the proxies are swapped, never two writable nodes, and no data
directory re-initialised (a marker file written before a node's manager is replaced is still
there, and pgha-agent ran no pg_basebackup). Figures (appended to figures.json): writes
acknowledged, the longest write gap of the leader's switchover, connections attempted and failed
while the proxies were swapped.
"""
import secrets
import sys
import threading
import time

import pytest

import conftest as ct

pc = ct.pc
sys.path.insert(0, str(ct.REPO / "tools"))
import pgha_campaign as campaign  # noqa: E402
from pgha_campaign_judge import count_by, longest_gap, lost_ids  # noqa: E402

# HAProxy's config of the cluster being migrated, loaded unchanged by pgha-proxy later: fast
# checks (a switchover is re-routed in under a second) and binds on 127.0.0.1, the address both
# proxies must share for the kernel to put their listeners in one reuseport group.
PROXY_CONFIG = ct.REPO / "tests" / "integration" / "haproxy-tuned-equivalent.cfg"
PROFILE = "fast"  # whole seconds (Patroni), failovers in ~10 s
MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"
MARKER = "pgha-migration-marker"
STEP_TIMEOUT = 90


class ConnectProber(threading.Thread):
    """Opens a fresh connection to host:port in a loop (connect, SELECT 1, close), as fast as one
    thread can; records the time of every attempt and of every failure with its class."""

    def __init__(self, host, port):
        super().__init__(name="connect-prober", daemon=True)
        self.host = host
        self.port = port
        self.attempts = []
        self.failures = []  # (t, error class)
        self.busy = 0.0  # seconds spent in attempts
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            session = campaign.PgSession(self.host, self.port, pc.BENCH_USER, pc.BENCH_USER)
            t = time.monotonic()
            self.attempts.append(t)
            phase = "connect"
            try:
                session.connect(5)
                phase = "select"
                session.execute("SELECT 1", timeout=5)
            except Exception as e:  # noqa: BLE001 - a failure is a record
                self.failures.append((t, campaign.error_class(e, phase)))
            finally:
                session.close()
                self.busy += time.monotonic() - t
            self.stop_event.wait(0.002)

    def within(self, start, end):
        """(attempts, failures) started in [start, end]."""
        return ([t for t in self.attempts if start <= t <= end],
                [f for f in self.failures if start <= f[0] <= end])


class SwapProber(threading.Thread):
    """While the proxies are swapped: opens TCP connections to host:port as fast as one thread can
    and asks each the way a PostgreSQL client starts (an SSLRequest: PostgreSQL answers one byte,
    'S' or 'N'), so that every attempt crosses the proxy to a server without the cost of a session.
    Records attempts and failures (refused, reset, closed, timed out)."""

    SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")

    def __init__(self, host, port, index):
        super().__init__(name=f"swap-prober-{index}", daemon=True)
        self.address = (host, port)
        self.attempts = 0
        self.failures = []  # (t, error)
        self.stop_event = threading.Event()

    def run(self):
        import socket
        while not self.stop_event.is_set():
            t = time.monotonic()
            self.attempts += 1
            try:
                with socket.create_connection(self.address, timeout=5) as s:
                    s.sendall(self.SSL_REQUEST)
                    answer = s.recv(1)
                    if answer not in (b"S", b"N"):
                        raise OSError(f"answer {answer!r} (closed)")
            except OSError as e:
                self.failures.append((t, campaign.error_class(e, "connect")))


class Recorders:
    """The campaign's writers and samplers plus a ConnectProber, on a cluster."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.campaign = campaign.Campaign(cluster, [], seed=0, writers=4, log=print)
        self.prober = ConnectProber(cluster.proxy_host, pc.WRITE_PORT)

    def __enter__(self):
        self.campaign.prepare_tables()
        self.campaign.start_recorders()
        self.prober.start()
        wait_for_ack(self.campaign, time.monotonic(), 30)
        return self

    def __exit__(self, *exc):
        self.prober.stop_event.set()
        self.campaign.stop_recorders()
        self.prober.join(15)


def wait_for_ack(camp, after, timeout):
    """Waits until a write is acknowledged after `after` (monotonic); returns its ack time."""
    def acked():
        return min((a.t_ack for a in camp.acks() if a.t_ack > after), default=None)
    return pc.wait_for(acked, timeout, "a write acknowledged through the proxy", 0.05)


@pytest.fixture(scope="module")
def cluster():
    with open(MIGRATE_REQ) as f:
        saved = f.read().strip()
    d = ct.fresh_cluster_dir("test_migration")
    c = pc.Cluster(d, manager="patroni", proxy="haproxy", proxy_config=PROXY_CONFIG, profile=PROFILE)
    try:
        print(f"\n[test_migration] cluster up: Patroni, HAProxy with {PROXY_CONFIG.name}, profile {PROFILE}")
        c.up(timeout=240)
        # The host's network namespace (where both proxies run): restored afterwards.
        with open(MIGRATE_REQ, "w") as f:
            f.write("1")
        yield c
    finally:
        with open(MIGRATE_REQ, "w") as f:
            f.write(saved)
        if (d / "cluster.json").exists():
            ct.stop_cluster(pc.Cluster.attach(d))


def mark_data_dir(node):
    """Writes a marker with a fresh token into `node`'s data directory; returns the token."""
    token = secrets.token_hex(8)
    (node.data_dir / MARKER).write_text(f"{node.name} {token}\n")
    return token


def replace_manager(cluster, name, manager, tokens):
    node = cluster.node(name)
    tokens[name] = mark_data_dir(node)
    started = time.monotonic()
    cluster.replace_manager(name, manager, timeout=STEP_TIMEOUT)
    print(f"[migration] {name}: {manager} runs it and it streams ({time.monotonic() - started:.1f} s)")


def switchover(cluster, camp, command, candidate):
    """Runs the switchover `command` (argv) to `candidate`; waits until it leads, the former
    leader streams from it and a write is acknowledged after; returns (old leader, seconds, longest
    write gap from the command to that first write plus 2 s)."""
    import subprocess
    old = cluster.leader()
    t0 = time.monotonic()
    # patronictl alone took 32 s before it asked the leader once, with the machine's load at 16.
    out = subprocess.run(command, capture_output=True, text=True, timeout=2 * STEP_TIMEOUT)
    print(f"[migration] {' '.join(command[:1] + command[3:])}: rc {out.returncode}\n{out.stdout}{out.stderr}")
    assert out.returncode == 0, out.stdout + out.stderr
    cluster.wait_for(lambda: cluster.leader() == candidate, STEP_TIMEOUT, f"{candidate} to lead", 0.05)
    first = wait_for_ack(camp, time.monotonic(), 30)
    cluster.wait_for(cluster.healthy, STEP_TIMEOUT, "a leader and 2 streaming replicas", 0.25)
    t1 = max(first + 2, time.monotonic())
    gap = longest_gap([a.t_ack for a in camp.acks()], t0, t1)
    return old, round(first - t0, 3), round(gap, 3)


def etcd_put(cluster, key, value):
    """Writes `key` through etcd's JSON gateway (as Patroni does with its client)."""
    import base64
    import json
    b64 = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    status, body = pc.http_get(f"{cluster.etcd_endpoints()[0]}/v3/kv/put", 2.0, cluster.tls_context,
                               data=json.dumps({"key": b64(key), "value": b64(value)}).encode())
    assert status == 200, f"etcd put {key}: {status} {body}"


def leader_stays(cluster, leader, seconds):
    """Polls for `seconds` that `leader` alone answers 200 on /primary; the first other answer fails."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert cluster.leader() == leader, f"the leader changed from {leader} to {cluster.leader()}"
        time.sleep(0.1)


def swap_proxy(cluster, prober, kind, figures):
    """cluster.swap_proxy(kind) with the recorders' prober and two SwapProbers running, from just
    before the new proxy starts to 0.5 s after the old one exited; puts the figures in `figures`."""
    swap_probers = [SwapProber(cluster.proxy_host, pc.WRITE_PORT, i) for i in range(2)]
    for t in swap_probers:
        t.start()
    t0 = time.monotonic()
    try:
        cluster.swap_proxy(kind, PROXY_CONFIG, grace=3)
        t1 = time.monotonic() + 0.5  # connections the old proxy's queue handed over are served by now
        pc.wait_for(lambda: time.monotonic() >= t1, 2, "the swap's tail", 0.05)
    finally:
        for t in swap_probers:
            t.stop_event.set()
        for t in swap_probers:
            t.join(10)
    attempts, failures = prober.within(t0, t1)
    figures.update({"swap": f"{kind} replaced the old proxy", "swap_s": round(t1 - t0, 3),
                    "swap_client_connections": len(attempts),
                    "swap_tcp_connections": sum(t.attempts for t in swap_probers),
                    "swap_connection_failures": failures + [f for t in swap_probers for f in t.failures]})


def verdict(cluster, rec, direction, figures):
    """Asserts the direction's targets after the recorders stopped; records its figures."""
    camp = rec.campaign
    leader = cluster.wait_for(cluster.leader, 30, "a leader", 0.2)
    acks = camp.acks()
    present, _ = camp.leader_state(leader)
    lost = lost_ids([a.id for a in acks], present)
    dual = camp.new_dual_windows(time.monotonic())
    fails = camp.failures()
    figures.update({
        "test": f"migration {direction}", "acknowledged": len(acks), "lost": len(lost),
        "writer_failures": count_by(f.error for f in fails),
        "probe_connections": len(rec.prober.attempts), "probe_failures": len(rec.prober.failures),
        "probe_mean_ms": round(1000 * rec.prober.busy / max(1, len(rec.prober.attempts)), 1),
        "dual_writable_windows": len(dual),
        "sampler_rounds": sum(s.rounds for s in camp.samplers)})
    ct.record_figures(figures)
    assert not lost, f"{len(lost)} acknowledged writes missing on {leader}: {lost[:20]}"
    assert not dual, f"two writable nodes: {[camp.describe_window(w) for w in dual][:3]}"
    assert figures["swap_connection_failures"] == [], (
        f"connections failed while the proxies were swapped: {figures['swap_connection_failures']}")


def assert_adopted(cluster, tokens):
    """Every migrated node kept its data directory (the marker is there) and was never cloned."""
    for name, token in tokens.items():
        node = cluster.node(name)
        assert (node.data_dir / MARKER).read_text().split() == [name, token], \
            f"{name}: the data directory was replaced (re-initialised or cloned)"
        assert ct.clone_count(node) == 0, f"{name}: pgha-agent ran pg_basebackup"


def test_patroni_and_haproxy_to_pgha(cluster):
    assert set(cluster.node_managers.values()) == {"patroni"} and cluster.proxy == "haproxy"
    tokens = {}
    figures = {}
    with Recorders(cluster) as rec:
        leader = cluster.leader()
        replicas = [n for n in cluster.nodes if n != leader]
        for name in replicas:
            replace_manager(cluster, name, "pgha-agent", tokens)
        candidate = replicas[0]
        patronictl = ["timeout", str(2 * STEP_TIMEOUT), "patronictl", "-c", str(cluster.node(leader).config_path),
                      "switchover", "--leader", leader, "--candidate", candidate, "--force"]
        old, took, gap = switchover(cluster, rec.campaign, patronictl, candidate)
        replace_manager(cluster, old, "pgha-agent", tokens)
        # Patroni clears /failover by writing {} (the Patroni leader does after a switchover it
        # made): a pgha-agent leader must read it as no request, not as "switch over to anyone".
        etcd_put(cluster, "/service/postgres/failover", "{}")
        leader_stays(cluster, candidate, 3)
        swap_proxy(cluster, rec.prober, "pgha-proxy", figures)
        figures.update({"switchover_to_first_write_s": took, "switchover_write_gap_s": gap})
    assert set(cluster.node_managers.values()) == {"pgha-agent"} and cluster.proxy == "pgha-proxy"
    verdict(cluster, rec, "patroni+haproxy -> pgha", figures)
    assert_adopted(cluster, tokens)


def test_pgha_back_to_patroni_and_haproxy(cluster):
    if cluster.proxy != "pgha-proxy" or set(cluster.node_managers.values()) != {"pgha-agent"}:
        pytest.skip("the forward migration did not complete")
    tokens = {}
    figures = {}
    with Recorders(cluster) as rec:
        swap_proxy(cluster, rec.prober, "haproxy", figures)
        leader = cluster.leader()
        replicas = [n for n in cluster.nodes if n != leader]
        for name in replicas:
            replace_manager(cluster, name, "patroni", tokens)
        candidate = replicas[0]
        pghactl = [str(cluster.agent_binary().parent / "pghactl"), "-c", str(cluster.node(leader).config_path),
                   "switchover", "--candidate", candidate]
        old, took, gap = switchover(cluster, rec.campaign, pghactl, candidate)
        replace_manager(cluster, old, "patroni", tokens)
        figures.update({"switchover_to_first_write_s": took, "switchover_write_gap_s": gap})
    assert set(cluster.node_managers.values()) == {"patroni"} and cluster.proxy == "haproxy"
    verdict(cluster, rec, "pgha -> patroni+haproxy", figures)
    assert_adopted(cluster, tokens)
