"""The shipped monitoring files (deploy/monitoring) are valid, and the alerts do what they say.

``promtool check rules`` and ``check config`` validate them; ``promtool test rules`` runs
``alerts.test.yml``, which feeds series to the rules and expects each alert to fire (or not)
at given times: unrecoverable segments at once, a node after 5 minutes down, a lost disk, the
capacity forecast, an overdue scrub. ``promtool check metrics`` finds no problem in any
daemon's exposition (the collectors of ``test_metric_names``; the live ones are checked by
the integration tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import promtool
import pytest
from unit.test_metric_names import coordinator_text, gateway_text, node_text

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def test_alert_rules_are_valid() -> None:
    done = promtool.run("check", "rules", "alerts.yml", cwd=MONITORING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_alert_rules_fire_as_their_tests_expect() -> None:
    done = promtool.run("test", "rules", "alerts.test.yml", cwd=MONITORING)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_scrape_config_is_valid() -> None:
    done = promtool.run("check", "config", "prometheus.yml", cwd=MONITORING)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_is_grafana_json() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["targets"] for panel in dashboard["panels"])


@pytest.mark.parametrize("make", [gateway_text, node_text, coordinator_text])
def test_promtool_finds_nothing_wrong_with_the_expositions(make: object) -> None:
    assert promtool.check_metrics(make()) == ""  # type: ignore[operator]
