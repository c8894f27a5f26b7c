"""The dashboard on the admin API, loaded in headless Chromium (Debian's ``chromium``): it
shows the table's routes, upstream health and migration progress, polls live, and shows a
route's new mode after a promote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(url: str, profile: Path, budget_ms: int = 5000) -> str:
    """The page's DOM after ``budget_ms`` of virtual time (its JavaScript has run)."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run does it)")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture()
def proxy(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> Iterator[ProxyProcess]:
    text = table_yaml(
        {"legacy": legacy.url, "catalog": catalog.url},
        [
            {
                "name": "product-detail",
                "match": {"path": "/api/products/{id:int}/"},
                "mode": "legacy",
                "to": "catalog",
            },
            {
                "name": "category-list",
                "match": {"path": "/api/categories/"},
                "mode": "extracted",
                "to": "catalog",
            },
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path) as p:
        yield p


def test_dashboard_shows_the_routes_and_updates_after_a_promote(
    proxy: ProxyProcess, tmp_path: Path
) -> None:
    dom = render(proxy.admin_url + "/dashboard", tmp_path / "profile")
    assert 'data-route="product-detail"' in dom and 'data-route="category-list"' in dom
    assert '<td class="legacy">legacy</td>' in dom
    assert '<td class="extracted">extracted</td>' in dom
    assert "1 of 2 routes extracted (50%)" in dom
    assert ">catalog</td>" in dom and "healthy" in dom
    polls = int(dom.split('data-polls="', 1)[1].split('"', 1)[0])
    assert polls >= 2  # it refreshes on its own

    assert proxy.config is not None
    promote = subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "promote", "product-detail", "--config",
         str(proxy.config), "--admin", proxy.admin_url, "--audit", str(tmp_path / "audit.jsonl"),
         "--wait"],
        capture_output=True, text=True, env=os.environ | {"USER": "dashboard-test"},
    )  # fmt: skip
    assert promote.returncode == 0, promote.stdout + promote.stderr
    dom = render(proxy.admin_url + "/dashboard", tmp_path / "profile")
    assert '<td class="shadow">shadow</td>' in dom


def test_progress_by_the_inventorys_measure(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    text = table_yaml(
        {"legacy": legacy.url, "catalog": catalog.url},
        [{"name": "category-list", "match": {"path": "/api/categories/", "methods": ["GET"]},
          "mode": "extracted", "to": "catalog"}],
    )  # fmt: skip
    with ProxyProcess.from_yaml(
        text, tmp_path, "--inventory-settings", "legacy_monolith.settings"
    ) as proxy:
        progress = httpx.get(proxy.admin_url + "/progress", timeout=60).json()
        assert progress["source"] == "inventory"
        assert progress["extracted"] == 1 and progress["total"] > 10
        dom = render(proxy.admin_url + "/dashboard", tmp_path / "profile")
    assert f"1 of {progress['total']} endpoint methods extracted" in dom
