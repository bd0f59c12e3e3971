"""pgha-proxy's HAProxy-compatible /metrics against the real thing: HAProxy 2.6 with its built-in
Prometheus exporter and pgha-proxy run side by side on the same haproxy.cfg, in front of the same
small backends (TCP echo servers with HTTP health endpoints answering 200 or 503, a closed port),
and both are scraped. Every haproxy_* family pgha-proxy writes must exist in HAProxy's output with
the same TYPE and the same label names for the same proxy/server, and the values that describe
state must agree: server status per state, check status, active/backup servers, backend status,
session and byte counts of a session that went through each; then again after a health endpoint
is stopped. No PostgreSQL: runs in a few seconds.
"""
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import pgha_cluster as pc
from conftest import TEST_DIR
from prometheus_scrape import scrape, value

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PGHA_ADMIN_PORT = 8404  # pgha-proxy's admin API on an haproxy.cfg: 127.0.0.1:8404
DEADLINE = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                while data := self.request.recv(4096):
                    self.request.sendall(data)
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Health(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status):
        class Handler(BaseHTTPRequestHandler):
            def do_OPTIONS(self):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def setup():
    binary = pc.find_proxy_binary()
    assert binary and binary.exists(), "pgha-proxy binary not found (PGHA_PROXY_BIN or build/release)"
    assert os.path.exists(HAPROXY), "haproxy not installed"
    assert "prometheus-exporter" in subprocess.run([HAPROXY, "-vv"], capture_output=True, text=True).stdout
    work = TEST_DIR / "metrics_compat"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    echo = Echo()
    health = {"n1": Health(200), "n2": Health(503), "n3": Health(200)}
    closed = free_port()
    ports = {"haproxy": (free_port(), free_port()), "pgha": (free_port(), free_port())}
    stats_port = free_port()

    def config(write_port, read_port):
        return f"""global
    maxconn 200
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
listen pg_write
    bind 127.0.0.1:{write_port}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
    server n1 127.0.0.1:{echo.port} maxconn 100 check port {health['n1'].port}
    server n2 127.0.0.1:{echo.port} maxconn 100 check port {health['n2'].port}
    server n3 127.0.0.1:{echo.port} maxconn 100 check port {health['n3'].port}
    server spare 127.0.0.1:{echo.port} backup
frontend fe_read
    bind 127.0.0.1:{read_port}
    default_backend be_read
backend be_read
    balance leastconn
    default-server inter 200ms fall 2 rise 1
    server r1 127.0.0.1:{echo.port} check
    server r2 127.0.0.1:{closed} check
"""
    (work / "pgha.cfg").write_text(config(*ports["pgha"]))
    (work / "haproxy.cfg").write_text(config(*ports["haproxy"]) + f"""frontend stats
    mode http
    bind 127.0.0.1:{stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
""")
    procs = []
    try:
        with open(work / "haproxy.log", "w") as log:
            procs.append(subprocess.Popen([HAPROXY, "-db", "-f", str(work / "haproxy.cfg")], stdout=log, stderr=log))
        with open(work / "pgha-proxy.log", "w") as log:
            procs.append(subprocess.Popen([str(binary), "-f", str(work / "pgha.cfg")], stdout=log, stderr=log))
        urls = {"haproxy": f"http://127.0.0.1:{stats_port}/metrics",
                "pgha": f"http://127.0.0.1:{PGHA_ADMIN_PORT}/metrics"}
        deadline = time.monotonic() + DEADLINE
        for name, url in urls.items():
            while True:
                for p in procs:
                    assert p.poll() is None, f"a proxy exited: see {work}/*.log"
                try:
                    scrape(url)
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"{url} never answered"
                    time.sleep(0.05)
        yield {"urls": urls, "ports": ports, "health": health}
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT if p.args[0] != HAPROXY else signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for h in health.values():
            h.stop()
        echo.shutdown()
        echo.server_close()


def both(setup):
    return {name: scrape(url) for name, url in setup["urls"].items()}


def wait_until(setup, predicate, what):
    """Polls both scrapes until predicate(scrapes) holds for both; returns the scrapes."""
    deadline = time.monotonic() + DEADLINE
    while True:
        scrapes = both(setup)
        if all(predicate(samples) for _, samples in scrapes.values()):
            return scrapes
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def status_of(samples, proxy, server):
    up = [ls["state"] for n, ls, v in samples
          if n == "haproxy_server_status" and ls["proxy"] == proxy and ls["server"] == server and v == 1]
    return up[0] if len(up) == 1 else None


def states(samples, expected):
    return all(status_of(samples, p, s) == st for (p, s), st in expected.items())


def assert_same_families(scrapes):
    """Every haproxy_* family pgha writes: in HAProxy's output, same TYPE, same label names for
    each of pgha's label sets (matched on proxy and server)."""
    (p_types, p_samples), (h_types, h_samples) = scrapes["pgha"], scrapes["haproxy"]
    offered = {n for n in p_types if n.startswith("haproxy_")}
    assert len(offered) >= 18, sorted(offered)
    for family in sorted(offered):
        assert family in h_types, f"{family}: HAProxy has no such family"
        assert p_types[family] == h_types[family], f"{family}: pgha {p_types[family]}, HAProxy {h_types[family]}"
        theirs = {}
        for n, ls, _ in h_samples:
            if n == family:
                theirs.setdefault((ls.get("proxy"), ls.get("server")), set()).add(frozenset(ls))
        for n, ls, _ in p_samples:
            if n != family:
                continue
            key = (ls.get("proxy"), ls.get("server"))
            assert key in theirs, f"{family}{ls}: HAProxy has no sample for {key}"
            assert frozenset(ls) in theirs[key], f"{family}: label names {sorted(ls)} vs {theirs[key]}"


STATE_FAMILIES = ("haproxy_server_status", "haproxy_server_check_status", "haproxy_backend_status",
                  "haproxy_backend_active_servers", "haproxy_backend_backup_servers", "haproxy_frontend_status")


def assert_same_state(scrapes):
    (_, p_samples), (_, h_samples) = scrapes["pgha"], scrapes["haproxy"]
    for family in STATE_FAMILIES:
        ours = {tuple(sorted(ls.items())): v for n, ls, v in p_samples if n == family}
        theirs = {tuple(sorted(ls.items())): v for n, ls, v in h_samples
                  if n == family and ls.get("proxy") != "stats"}
        assert ours == theirs, f"{family}: pgha {ours} vs HAProxy {theirs}"


def round_trip(port, payload=b"hello"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(4096)
            assert chunk, "closed before the echo"
            got += chunk
        assert got == payload


def compare_once_settled(setup, expected):
    """Waits until both proxies report the `expected` server states, compares families and
    states, and returns pgha's samples."""
    scrapes = wait_until(setup, lambda s: states(s, expected), f"servers {expected}")
    assert_same_families(scrapes)
    assert_same_state(scrapes)
    return scrapes["pgha"][1]


def test_haproxy_names_types_labels_and_states_match(setup):
    p = compare_once_settled(setup, {("pg_write", "n1"): "UP", ("pg_write", "n2"): "DOWN", ("pg_write", "n3"): "UP",
                                     ("pg_write", "spare"): "UP", ("be_read", "r1"): "UP", ("be_read", "r2"): "DOWN"})
    assert value(p, "haproxy_backend_active_servers", proxy="pg_write") == 2
    assert value(p, "haproxy_server_check_status", proxy="pg_write", server="n2", state="L7STS") == 1
    assert value(p, "haproxy_server_check_status", proxy="be_read", server="r2", state="L4CON") == 1
    assert value(p, "haproxy_server_check_status", proxy="pg_write", server="spare", state="L7OK") is None


def test_sessions_and_bytes_match(setup):
    for name in ("pgha", "haproxy"):
        write, read = setup["ports"][name]
        round_trip(write, b"hello")
        round_trip(read, b"0123456789")

    def settled(samples):
        return (value(samples, "haproxy_frontend_bytes_out_total", proxy="fe_read") == 10 and
                value(samples, "haproxy_frontend_bytes_out_total", proxy="pg_write") == 5 and
                value(samples, "haproxy_backend_current_sessions", proxy="pg_write") == 0)
    scrapes = wait_until(setup, settled, "both sessions counted")
    (_, p), (_, h) = scrapes["pgha"], scrapes["haproxy"]
    for family, labels, expected in [
            ("haproxy_frontend_sessions_total", {"proxy": "pg_write"}, 1),
            ("haproxy_frontend_bytes_in_total", {"proxy": "pg_write"}, 5),
            ("haproxy_frontend_bytes_in_total", {"proxy": "fe_read"}, 10),
            ("haproxy_backend_sessions_total", {"proxy": "be_read"}, 1),
            ("haproxy_backend_bytes_in_total", {"proxy": "be_read"}, 10),
            ("haproxy_server_sessions_total", {"proxy": "be_read", "server": "r1"}, 1),
            ("haproxy_server_bytes_in_total", {"proxy": "be_read", "server": "r1"}, 10),
            ("haproxy_server_bytes_out_total", {"proxy": "be_read", "server": "r1"}, 10),
            ("haproxy_frontend_current_sessions", {"proxy": "pg_write"}, 0)]:
        assert value(p, family, **labels) == expected, f"pgha {family}{labels}"
        assert value(h, family, **labels) == expected, f"HAProxy {family}{labels}"
    # Which of n1/n3 took the write session may differ; the sum may not.
    for samples in (p, h):
        assert sum(v for n, ls, v in samples
                   if n == "haproxy_server_sessions_total" and ls.get("proxy") == "pg_write") == 1


def test_states_still_match_after_a_health_endpoint_stops(setup):
    setup["health"]["n3"].stop()
    p = compare_once_settled(setup, {("pg_write", "n1"): "UP", ("pg_write", "n2"): "DOWN", ("pg_write", "n3"): "DOWN"})
    assert value(p, "haproxy_backend_active_servers", proxy="pg_write") == 1
    assert value(p, "haproxy_server_check_status", proxy="pg_write", server="n3", state="L4CON") == 1
