"""FailoverProbe: background threads that time a failover through the proxy. One thread per
candidate polls its Patroni GET /primary every 20 ms; one writer inserts through :5432 on a new
connection every 20 ms (the bench role, trust auth, so a probe costs ~ms); optionally one thread
runs SELECT 1 every 100 ms on a session held open to the old leader. Times are time.monotonic().
"""
import threading
import time

PROBE_INTERVAL = 0.02


class FailoverProbe:
    """Background threads: one polls each candidate's GET /primary, one writes through :5432,
    both every 20 ms, until stopped. Times are time.monotonic()."""

    def __init__(self, cluster, candidates, watched_session=None):
        self.cluster = cluster
        self.stop_event = threading.Event()
        self.promoted_at = {}
        self.writes = []  # (start, end, port or None)
        self.session_closed_at = None
        self.threads = [threading.Thread(target=self._poll_primary, args=(n,), daemon=True)
                        for n in candidates]
        self.threads.append(threading.Thread(target=self._write, daemon=True))
        if watched_session is not None:
            self.threads.append(threading.Thread(target=self._watch, args=(watched_session,), daemon=True))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(10)
        assert not any(t.is_alive() for t in self.threads), "probe threads did not stop"

    def _poll_primary(self, node):
        while not self.stop_event.is_set():
            if node.rest("/primary", timeout=0.5)[0] == 200:
                self.promoted_at[node.name] = time.monotonic()
                return
            self.stop_event.wait(PROBE_INTERVAL)

    def _write(self):
        while not self.stop_event.is_set():
            start = time.monotonic()
            try:
                port = self.cluster.write_through_proxy("tuned-probe", connect_timeout=2)
            except Exception:  # noqa: BLE001 - a failed probe is data
                port = None
            self.writes.append((start, time.monotonic(), port))
            self.stop_event.wait(max(0.0, PROBE_INTERVAL - (time.monotonic() - start)))

    def _watch(self, session):
        while not self.stop_event.is_set():
            try:
                with session.cursor() as cur:
                    cur.execute("SELECT 1")
                    cur.fetchone()
            except Exception:  # noqa: BLE001 - any error means the session is gone
                self.session_closed_at = time.monotonic()
                return
            self.stop_event.wait(0.1)

    def first_write_on(self, port, after):
        for start, end, p in list(self.writes):
            if p == port and start >= after:
                return end
        return None
