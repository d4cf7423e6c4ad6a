"""The web UI's session store and samples: expiry, eviction, CSRF comparison, rates, and the
gateway counters behind the Overview's request rate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wormfs.coordinator.ui.overview import gateway_totals
from wormfs.coordinator.ui.samples import Samples
from wormfs.coordinator.ui.sessions import SessionStore, csrf_ok


def test_session_lives_while_used_and_expires_when_idle() -> None:
    store = SessionStore(idle_timeout=10, max_age=100)
    s = store.open("ops", "admin", "t1", "cred", now=0)
    assert store.get(s.id, 9) is s
    assert store.get(s.id, 18) is s  # the idle deadline slides with use
    assert store.get(s.id, 29) is None  # idle for 11 s
    assert store.get(s.id, 30) is None


def test_session_has_an_absolute_age_limit() -> None:
    store = SessionStore(idle_timeout=10, max_age=25)
    s = store.open("ops", "admin", "t1", "cred", now=0)
    for t in (8, 16, 24):
        assert store.get(s.id, t) is s
    assert store.get(s.id, 26) is None


def test_close_and_unknown_ids() -> None:
    store = SessionStore()
    s = store.open("ops", "read", "t1", "cred", now=0)
    assert store.get("nope", 1) is None
    store.close(s.id)
    assert store.get(s.id, 1) is None
    assert len(store) == 0


def test_ids_and_csrf_tokens_are_distinct_and_random() -> None:
    store = SessionStore()
    a, b = store.open("a", "admin", "t", "cred", 0), store.open("b", "admin", "t", "cred", 0)
    assert len({a.id, b.id, a.csrf, b.csrf}) == 4
    assert len(a.id) >= 40


def test_store_is_bounded_dropping_the_longest_idle() -> None:
    store = SessionStore(max_sessions=2)
    a = store.open("a", "admin", "t", "cred", 0)
    b = store.open("b", "admin", "t", "cred", 1)
    store.get(a.id, 2)  # b is now the longest idle
    c = store.open("c", "admin", "t", "cred", 3)
    assert store.get(b.id, 3) is None
    assert store.get(a.id, 3) is a and store.get(c.id, 3) is c


def test_csrf_comparison() -> None:
    assert csrf_ok("abc", "abc")
    assert not csrf_ok("abc", "abd")
    assert not csrf_ok("abc", None)
    assert not csrf_ok("abc", "")
    assert not csrf_ok("", "")


def test_samples_keep_the_last_points_and_give_rates() -> None:
    samples = Samples(capacity=3)
    for t, v in [(0, 10), (10, 30), (20, 60), (30, 40)]:
        samples.record(t, {"objects": v})
    assert samples.series("objects") == ([10, 20, 30], [30, 60, 40])
    assert samples.rate("objects") == 0.0  # fell: deletes, not a negative rate
    samples.record(40, {"objects": 90})
    assert samples.rate("objects") == 5.0
    assert samples.rate("missing") is None
    assert samples.series("missing") == ([], [])


def test_the_credential_is_not_in_the_repr() -> None:
    s = SessionStore().open("ops", "admin", "t1", "wfa_secret", 0)
    assert "wfa_secret" not in repr(s)


def test_gateway_totals_sum_every_worker_and_label(tmp_path: Path) -> None:
    """The Overview's request and byte rates: counters of two workers' multiprocess files."""
    script = f"""
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
from prometheus_client import CollectorRegistry, Counter
registry = CollectorRegistry()
requests = Counter("wormfs_s3_requests", "r", ["operation", "code"], registry=registry)
received = Counter("wormfs_s3_received_bytes", "b", ["operation"], registry=registry)
requests.labels("PutObject", "200").inc(int(sys.argv[1]))
requests.labels("GetObject", "404").inc(1)
received.labels("PutObject").inc(1000)
"""
    for count in ("3", "4"):  # two worker processes, each with its own files
        subprocess.run([sys.executable, "-c", script, count], check=True)
    totals = gateway_totals(tmp_path)
    assert totals == {"s3_requests": 9.0, "s3_received_bytes": 2000.0, "s3_sent_bytes": 0.0}
