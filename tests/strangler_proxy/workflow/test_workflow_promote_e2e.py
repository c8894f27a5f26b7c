"""promote / rollback / history / status against a real proxy process and fake upstreams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strangler_proxy.shadow import open_store
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess

from .conftest import Cli

TABLE = """\
# the table of this test: comments and layout must survive every move
version: 1
upstreams:
  legacy: {legacy}        # the monolith
  catalog: {catalog}
default: legacy
routes:
  # product pages, moving to the catalog service
  - name: detail
    match:
      path: /api/products/{{id:int}}/
      methods: [GET, HEAD]
    mode: legacy          # the starting point
    to: catalog
    # (parked) sticky: header:Authorization

  - name: other
    match: {{prefix: /api/other/}}
    mode: legacy
"""
USERS = [f"Bearer user-{i:03d}" for i in range(200)]


@pytest.fixture(scope="module")
def proxy(
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProxyProcess]:
    folder = tmp_path_factory.mktemp("promote")
    text = TABLE.format(legacy=legacy.url, catalog=catalog.url)
    with ProxyProcess.from_yaml(text, folder, "--access-log", "off") as proc:
        yield proc


@pytest.fixture(scope="module")
def failing_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A shadow store in which the service answered differently 30 times out of 120."""
    path = tmp_path_factory.mktemp("store") / "shadow.sqlite3"
    url = f"sqlite:///{path}"
    store = open_store(url, path)
    store.start()
    for i in range(120):
        shadow = {"id": 7, "price": "9.99" if i % 4 == 0 else "10.00"}
        store.record(
            make_result(json_side({"id": 7, "price": "10.00"}), json_side(shadow), route="detail")
        )
    store.close()
    return url


def sides(proxy: ProxyProcess) -> dict[str, str]:
    """Which upstream served each user's product page."""
    with httpx.Client(base_url=proxy.url) as client:
        return {
            user: client.get("/api/products/7/", headers={"Authorization": user}).headers[
                "X-Strangler-Upstream"
            ]
            for user in USERS
        }


def test_promote_refuse_force_canary_rollback_history_status(
    proxy: ProxyProcess, failing_store: str, tmp_path: Path, cli: Cli
) -> None:
    assert proxy.config is not None
    config, original = str(proxy.config), proxy.config.read_text()
    audit = str(tmp_path / "audit.jsonl")
    common = ("--config", config, "--admin", proxy.admin_url, "--audit", audit, "--by", "tester")

    # legacy → shadow: the catalog service is up, so the health gate passes
    code, out, err = cli("promote", "detail", *common, "--wait", "10")
    assert code == 0, err
    assert "promoted detail: legacy → shadow" in out
    assert "upstream-health: pass: catalog: 1 of 1 instances healthy and not ejected" in out
    assert "the proxy at" in out and "serves it" in out
    after = proxy.config.read_text()
    assert after == original.replace(
        "mode: legacy          # the starting point", "mode: shadow          # the starting point"
    )

    # shadow → canary 1: the report fails (75% match), so it is refused with the numbers
    code, out, err = cli("promote", "detail", *common, "--shadow-store", failing_store)
    assert code == 1
    assert "refused: detail shadow → canary 1%: gate shadow-report failed" in err
    assert (
        "  shadow-report: fail: match rate 75.00% over 120 comparable (need >= 99.00% over >= 100)"
        "; match rate 75.00% < 99.00%; top differing field $.price (30x value)"
    ) in err
    assert proxy.config.read_text() == after  # nothing written
    assert not Path(audit).exists() or "canary" not in Path(audit).read_text()

    # --force needs a reason, and is recorded with the failing evidence
    code, _, err = cli("promote", "detail", *common, "--shadow-store", failing_store, "--force")
    assert code == 2 and "--force needs --reason" in err
    code, out, err = cli(
        "promote", *common, "detail", "--shadow-store", failing_store,
        "--force", "--reason", "price rounding fixed in 1.4.2", "--wait",
    )  # fmt: skip
    assert code == 0, err
    assert "canary 1%" in out and "forced past shadow-report" in out
    on_canary_1 = sum(side == "catalog" for side in sides(proxy).values())
    assert 0 < on_canary_1 < 20

    # canary → canary 50 with the live-metrics gate: enough requests, no 5xx
    wait = ("--wait", "10")  # until the proxy serves the new table
    code, out, err = cli(
        "promote", "detail", *common, "--to", "canary:50", "--min-requests", "1", *wait
    )
    assert code == 0, err
    assert "live-metrics: pass" in out
    code, _, _ = cli("promote", "detail", *common, "--to", "canary:60", "--min-requests", "1000")
    assert code == 1  # not enough requests on the service yet
    assert cli("status", "detail", "--config", config, "--admin", proxy.admin_url)[0] == 0
    before = sides(proxy)
    assert 60 < sum(side == "catalog" for side in before.values()) < 140

    # rollback follows the audit log: canary 50 → canary 1 → shadow → legacy
    code, out, _ = cli("rollback", "detail", *common, *wait)
    assert code == 0 and "canary 50% → canary 1% (per the audit log)" in out
    after_one = sides(proxy)
    assert {u for u, s in after_one.items() if s == "catalog"} <= {
        u for u, s in before.items() if s == "catalog"
    }
    code, out, _ = cli("rollback", "detail", *common, "--all-the-way", *wait)
    assert code == 0 and "canary 1% → legacy (all the way)" in out
    # nobody stays on the service: legacy mode ignores canary buckets entirely
    assert set(sides(proxy).values()) == {"legacy"}
    # the file is as it was, plus the parked weight of the last canary
    assert proxy.config.read_text() == original.replace(
        "    to: catalog\n    # (parked) sticky",
        "    to: catalog\n    # (parked) weight: 1\n    # (parked) sticky",
    )

    # history: every move, forced and reasons included
    code, out, _ = cli("history", "detail", "--audit", audit, "--json")
    entries = json.loads(out)
    assert [(e["action"], e["from"]["mode"], e["to"]["mode"]) for e in entries] == [
        ("promote", "legacy", "shadow"),
        ("promote", "shadow", "canary"),
        ("promote", "canary", "canary"),
        ("rollback", "canary", "canary"),
        ("rollback", "canary", "legacy"),
    ]
    forced = entries[1]
    assert forced["forced"] is True and forced["by"] == "tester"
    assert forced["reason"] == "price rounding fixed in 1.4.2"
    assert forced["evidence"][0]["gate"] == "shadow-report"
    assert forced["evidence"][0]["numbers"]["match_rate"] == 0.75
    assert entries[2]["evidence"][0]["numbers"]["service"] >= 1
    code, out, _ = cli("history", "--audit", audit)
    assert code == 0 and "promote (forced)" in out and "reason: price rounding" in out

    # status: the route's live view
    code, out, _ = cli("status", "--config", config, "--admin", proxy.admin_url, "--json",
                       "--shadow-store", failing_store)  # fmt: skip
    data = json.loads(out)
    detail = next(r for r in data["routes"] if r["route"] == "detail")
    assert detail["state"] == "legacy" and detail["requests"] >= len(USERS) * 3
    assert data["traffic"] == "in the last 5 minutes"
