"""Hot reload: valid edits take effect within about a second with no failed request in flight;
invalid edits are rejected, reported (log, admin API, ``strangler validate``) and the last good
table keeps serving."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


def table(legacy: str, catalog: str, mode: str) -> str:
    route: dict[str, object] = {"name": "items", "match": {"prefix": "/items/"}, "mode": mode}
    if mode != "legacy":
        route["to"] = "catalog"
    return table_yaml({"legacy": legacy, "catalog": catalog}, [route])


ADMIN_TOKEN = "reload-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture()
def proxy(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> Iterator[ProxyProcess]:
    with ProxyProcess.from_yaml(
        table(legacy.url, catalog.url, "legacy"),
        tmp_path,
        "--access-log",
        "off",
        env={"STRANGLER_ADMIN_TOKEN": ADMIN_TOKEN},
    ) as p:
        yield p


def served_by(proxy: ProxyProcess) -> str:
    return str(httpx.get(proxy.url + "/items/1").headers["x-upstream-name"])


def test_valid_edit_takes_effect(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    assert proxy.config is not None
    assert served_by(proxy) == "legacy"
    proxy.config.write_text(table(legacy.url, catalog.url, "extracted"))
    wait_until(lambda: served_by(proxy) == "catalog", timeout=3, what="the edit to take effect")
    info = httpx.get(proxy.admin_url + "/table").json()
    assert info["generation"] == 2
    assert info["routes"][0]["mode"] == "extracted"
    last = httpx.get(proxy.admin_url + "/reload").json()
    assert last["ok"] is True and last["problems"] == []


def test_invalid_edits_are_rejected_and_the_last_good_table_serves(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    assert proxy.config is not None
    broken = {
        "broken YAML": "version: 1\nupstreams: {legacy: [\n",
        "schema error": table(legacy.url, catalog.url, "extracted").replace(
            "mode: extracted", "mode: extracted\n  weight: 120"
        ),
        "unknown upstream": table(legacy.url, catalog.url, "extracted").replace(
            "to: catalog", "to: nowhere"
        ),
    }
    for what, text in broken.items():
        proxy.config.write_text(text)

        def rejected() -> bool:
            last = httpx.get(proxy.admin_url + "/reload").json()
            return bool(not last["ok"] and last["sha256"] != "")

        wait_until(rejected, timeout=3, what=f"the {what} to be rejected")
        last = httpx.get(proxy.admin_url + "/reload").json()
        assert last["problems"], what
        assert all(p.startswith(str(proxy.config)) for p in last["problems"]), last
        assert served_by(proxy) == "legacy", what
        assert httpx.get(proxy.admin_url + "/table").json()["generation"] == 1
        # the same verdict from the command line
        check = subprocess.run(
            [sys.executable, "-m", "strangler_proxy", "validate", str(proxy.config)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 1
        assert check.stdout.strip().splitlines() == last["problems"]
        # and in the proxy's log
        wait_until(
            lambda: "routing table rejected" in proxy.output(100_000), timeout=3, what="log line"
        )
        # reset so the next case is seen as a change
        proxy.config.write_text(table(legacy.url, catalog.url, "legacy"))
        wait_until(
            lambda: httpx.get(proxy.admin_url + "/reload").json()["ok"], timeout=3, what="reset"
        )


def test_manual_reload_through_admin_api(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    assert proxy.config is not None
    proxy.config.write_text("version: 2\n")
    resp = httpx.post(proxy.admin_url + "/reload", headers=ADMIN)
    assert resp.status_code == 409
    assert any("version" in p for p in resp.json()["problems"])
    proxy.config.write_text(table(legacy.url, catalog.url, "extracted"))
    resp = httpx.post(proxy.admin_url + "/reload", headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["ok"]
    assert served_by(proxy) == "catalog"


def test_reload_through_admin_api_needs_the_admin_token(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    before = httpx.get(proxy.admin_url + "/table").json()["generation"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
        resp = httpx.post(proxy.admin_url + "/reload", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(proxy.admin_url + "/table").json()["generation"] == before


def test_admin_changes_are_closed_without_a_configured_token(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    text = table(legacy.url, catalog.url, "legacy")
    with ProxyProcess.from_yaml(text, tmp_path, env={"STRANGLER_ADMIN_TOKEN": ""}) as p:
        resp = httpx.post(p.admin_url + "/reload", headers={"Authorization": "Bearer x"})
        assert resp.status_code == 403
        assert "no admin token is configured" in resp.json()["detail"]
        assert httpx.get(p.admin_url + "/reload").status_code == 200  # reads stay open


def test_reloads_under_traffic_lose_no_request(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    """Requests run continuously on four threads while the table flips 20 times, each valid
    edit preceded by a broken one that is rejected; every single request must succeed."""
    assert proxy.config is not None
    stop = threading.Event()
    failures: list[str] = []
    counts = {"legacy": 0, "catalog": 0}
    lock = threading.Lock()

    def traffic() -> None:
        with httpx.Client(base_url=proxy.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    r = client.get("/items/x")
                    ok = r.status_code == 200
                    name = r.headers.get("x-upstream-name", "?")
                except httpx.HTTPError as err:
                    ok, name = False, repr(err)
                with lock:
                    if ok:
                        counts[name] += 1
                    else:
                        failures.append(name)

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            mode = "extracted" if i % 2 == 0 else "legacy"
            want = "catalog" if mode == "extracted" else "legacy"
            generation = i + 1
            proxy.config.write_text(f"routes: [\n# broken {i}\n")  # must change nothing
            wait_until(
                lambda: not httpx.get(proxy.admin_url + "/reload").json()["ok"],
                timeout=5,
                what="the broken edit to be rejected",
            )
            proxy.config.write_text(table(legacy.url, catalog.url, mode))
            wait_until(
                lambda g=generation + 1: (
                    httpx.get(proxy.admin_url + "/table").json()["generation"] == g
                ),
                timeout=5,
                what=f"generation {generation + 1}",
            )
            wait_until(lambda w=want: served_by(proxy) == w, timeout=5, what=want)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert counts["legacy"] > 0 and counts["catalog"] > 0


def test_request_in_flight_finishes_on_its_table(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    """A response still streaming from the monolith when the route moves to the service
    completes from the monolith; the next request goes to the service."""
    assert proxy.config is not None
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", proxy.url + "/items/gated?key=inflight") as resp:
            chunks = resp.iter_raw()
            assert next(chunks) == b"first"
            proxy.config.write_text(table(legacy.url, catalog.url, "extracted"))
            wait_until(lambda: served_by(proxy) == "catalog", timeout=3, what="the edit")
            client.get(legacy.url + "/release?key=inflight")
            rest = b"".join(chunks)
        assert resp.status_code == 200
        assert resp.headers["x-upstream-name"] == "legacy"
        assert rest == b"rest"
