from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

from .conftest import Cli


@pytest.fixture(scope="module")
def proxy(
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProxyProcess]:
    routes = [
        {
            "name": "detail",
            "match": {"path": "/api/products/{id:int}/"},
            "mode": "extracted",
            "to": "catalog",
            "fallback": "legacy",
        },
        {"name": "orders", "match": {"prefix": "/api/orders/"}, "mode": "legacy"},
    ]
    text = table_yaml({"legacy": legacy.url, "catalog": catalog.url}, routes)
    with ProxyProcess.from_yaml(
        text, tmp_path_factory.mktemp("status"), "--access-log", "off"
    ) as p:
        yield p


def test_totals_and_rates(proxy: ProxyProcess, cli: Cli, tmp_path: Path) -> None:
    assert proxy.config is not None
    store = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    base = ("--config", str(proxy.config), "--admin", proxy.admin_url, "--shadow-store", store)
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(10):
            assert client.get("/api/products/3/").headers["X-Strangler-Upstream"] == "catalog"

    code, out, _ = cli("status", *base)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ROUTE", "MODE", "UPSTREAM", "HEALTH", "BREAKER", "SHADOW", "REQUESTS", "5XX", "FALLBACKS"
    ]  # fmt: skip
    assert lines[1].split() == ["detail", "extracted", "catalog", "1/1", "ready", "closed", "-",
                                "10", "0", "0"]  # fmt: skip
    assert lines[2].split() == ["orders", "legacy", "-", "-", "-", "-", "0", "0", "0"]
    assert "traffic: in the last 5 minutes" in out

    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=proxy.url) as client:
            while not stop.is_set():
                client.get("/api/products/5/")

    worker = threading.Thread(target=load)
    worker.start()
    try:
        code, out, _ = cli("status", "detail", *base, "--interval", "0.5", "--json")
    finally:
        stop.set()
        worker.join()
    data = json.loads(out)
    assert data["traffic"] == "per second over 0.5s"
    [row] = data["routes"]
    assert row["requests"] > 0 and row["service"] == row["requests"]


def test_what_cannot_be_read_is_marked(proxy: ProxyProcess, cli: Cli) -> None:
    assert proxy.config is not None
    code, out, _ = cli(
        "status", "--config", str(proxy.config), "--admin", "http://127.0.0.1:9",
        "--shadow-store", "mysql://nope",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[1].split()[3:] == ["?", "?", "?", "?", "?", "?"]
    assert "note: health and breakers unknown: admin API http://127.0.0.1:9 unreachable" in out
    assert "note: shadow verdicts unknown: store: expected postgresql://" in out
    code, _, err = cli("status", "ghost", "--config", str(proxy.config))
    assert code == 2 and "no route 'ghost'" in err


def test_status_shows_the_latest_load_comparison(
    proxy: ProxyProcess, cli: Cli, tmp_path: Path
) -> None:
    assert proxy.config is not None
    result = tmp_path / "report.json"
    result.write_text(json.dumps({"verdict": "regression"}))
    base = ("--config", str(proxy.config), "--admin", proxy.admin_url,
            "--shadow-store", f"sqlite:///{tmp_path / 'none.sqlite3'}")  # fmt: skip
    code, out, _ = cli("status", *base, "--loadtest-result", str(result))
    assert code == 0 and f"latest load comparison: {result}: verdict regression" in out
    code, out, _ = cli("status", *base, "--loadtest-result", str(result), "--json")
    assert json.loads(out)["loadtest"]["passed"] is False
