"""The playbook's worked example, end to end on the demo shop, with the commands it shows:
inventory, shadow until the report passes, canary 1 → 5 → 25 → 50 → extracted with the gates
checked, a refused promote while a bugged service is deployed, rollback, history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from extracted.catalog.testing import gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import ProxyProcess

REPO = Path(__file__).resolve().parents[2]
TABLE = """\
# the worked example's table (comments must survive every promote)
version: 1
upstreams:
  legacy: {legacy}
  catalog: {catalog}
  bugged: {bugged}
default: legacy
routes:
  - name: product-detail
    match:
      path: /api/products/{{id:int}}/
      methods: [GET, HEAD]
    mode: legacy
    to: catalog
    # (parked) sticky: header:X-User

  - name: product-list       # deployed with a price bug on purpose
    match:
      path: /api/products/
      methods: [GET, HEAD]
    mode: shadow
    to: bugged
"""
USERS = [f"user-{i:04d}" for i in range(1500)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, Path]]:
    folder = tmp_path_factory.mktemp("worked")
    monolith_db = f"sqlite:///{folder / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{folder / 'catalog.sqlite3'}"
    seed_monolith(monolith_db, products=40)
    subprocess.run(
        [sys.executable, "-m", "extracted.catalog.backfill", "--source-url", monolith_db,
         "--target-url", catalog_db],
        check=True, capture_output=True,
    )  # fmt: skip
    ports = {name: free_port() for name in ("legacy", "catalog", "bugged")}
    svc = monolith_env(monolith_db, CATALOG_DATABASE_URL=catalog_db)
    procs = [
        Process(
            gunicorn_argv("legacy_monolith/gunicorn.conf.py", ports["legacy"]),
            name="monolith",
            env=monolith_env(monolith_db, DJANGO_ALLOWED_HOSTS="*"),
            cwd=REPO,
        ),
        Process(
            gunicorn_argv("extracted/catalog/gunicorn.conf.py", ports["catalog"]),
            name="catalog",
            env=svc,
            cwd=REPO,
        ),
        Process(
            gunicorn_argv("extracted/catalog/gunicorn.conf.py", ports["bugged"]),
            name="bugged",
            env=svc | {"CATALOG_TEST_BUG": "price_rounding"},
            cwd=REPO,
        ),
    ]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        for proc, name in zip(procs, ports, strict=True):
            proc.start()
            proc.wait_http(urls[name] + "/healthz", status=200)
        with ProxyProcess.from_yaml(TABLE.format(**urls), folder) as proxy:
            yield proxy, folder
    finally:
        for proc in procs:
            proc.stop()


def strangler(folder: Path, proxy: ProxyProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env_args = ["--config", str(folder / "routing.yaml")]
    if args[0] in ("promote", "rollback"):
        env_args += ["--admin", proxy.admin_url, "--audit", str(folder / "audit.jsonl")]
    if args[0] == "promote":
        env_args += ["--shadow-store", f"sqlite:///{folder / 'shadow.sqlite3'}"]
    if args[0] == "history":
        env_args = ["--audit", str(folder / "audit.jsonl")]
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", *args, *env_args],
        capture_output=True, text=True, cwd=folder,
    )  # fmt: skip


def traffic(proxy: ProxyProcess, users: list[str]) -> dict[str, int]:
    served: dict[str, int] = {}
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        ids = [p["id"] for p in client.get("/api/products/?page_size=40").json()["results"]]
        for i, user in enumerate(users):
            r = client.get(f"/api/products/{ids[i % len(ids)]}/", headers={"X-User": user})
            assert r.status_code == 200
            side = r.headers["x-strangler-upstream"]
            served[side] = served.get(side, 0) + 1
    return served


def compared(folder: Path, route: str) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "shadow", "report", route, "--json",
         "--store", f"sqlite:///{folder / 'shadow.sqlite3'}", "--min-samples", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return int(data["routes"][0]["compared"]) if data["routes"] else 0


def test_the_worked_example(demo: tuple[ProxyProcess, Path]) -> None:
    proxy, folder = demo
    # step 2: inventory
    inv = strangler(folder, proxy, "inventory", "--prefix", "/api/products", "--json")
    assert inv.returncode == 0, inv.stderr
    assert "product-detail" in inv.stdout

    # step 4: shadow until the report passes
    move = strangler(folder, proxy, "promote", "product-detail", "--wait")
    assert move.returncode == 0 and "legacy → shadow" in move.stdout, move.stdout + move.stderr
    assert traffic(proxy, USERS[:120]) == {"legacy": 120}
    wait_until(lambda: compared(folder, "product-detail") >= 120, what="120 comparisons")
    with httpx.Client(base_url=proxy.url) as client:  # the bugged list, shadowed too
        for page in range(1, 3):
            for _ in range(60):
                client.get(f"/api/products/?page={page}")
    wait_until(lambda: compared(folder, "product-list") >= 100, what="100 list comparisons")

    # the bugged service is refused, naming the field
    refused = strangler(folder, proxy, "promote", "product-list")
    assert refused.returncode == 1
    assert "$.results[*].price" in refused.stdout + refused.stderr

    # step 6: canary 1 → 5 → 25 → 50 → extracted, each gate checked on live traffic
    served: dict[str, int] = {}
    for target in ("canary 1%", "canary 5%", "canary 25%", "canary 50%", "extracted"):
        move = strangler(
            folder, proxy, "promote", "product-detail", "--wait", "--min-requests", "5"
        )
        assert move.returncode == 0, move.stdout + move.stderr
        assert f"→ {target}" in move.stdout
        served = traffic(proxy, USERS)
    assert served == {"catalog": len(USERS)}

    # roll back one step, then all the way: nobody stays on the service
    back = strangler(folder, proxy, "rollback", "product-detail", "--wait")
    assert back.returncode == 0 and "extracted → canary 50%" in back.stdout, back.stdout
    back = strangler(folder, proxy, "rollback", "product-detail", "--all-the-way", "--wait")
    assert back.returncode == 0
    assert traffic(proxy, USERS[:300]) == {"legacy": 300}

    history = strangler(folder, proxy, "history", "product-detail", "--json")
    moves = [(e["from"], e["to"]) for e in json.loads(history.stdout)]
    assert len(moves) == 8
    assert "comments must survive" in (folder / "routing.yaml").read_text()
