from __future__ import annotations

import json
from pathlib import Path

import pytest

from strangler_proxy.config import load_table, parse_table
from strangler_proxy.workflow._django_dump import sample_path
from strangler_proxy.workflow.inventory import (
    Endpoint,
    InventoryError,
    build_inventory,
    load_endpoints,
)

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("regex", "sample"),
    [
        (r"^api/products/(?P<pk>[0-9]+)/\Z", "/api/products/1/"),
        (r"^api/products/(?P<pk>[^/.]+)/$", "/api/products/1/"),
        (
            r"^api/(?P<slug>[-a-zA-Z0-9_]+)/items/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/\Z",
            "/api/1/items/00000000-0000-0000-0000-000000000001/",
        ),
        (r"^admin/(?P<app_label>auth|orders)/$", "/admin/auth/"),
        (r"^static/(?P<path>.+)$", "/static/1"),
        (r"^healthz\Z", "/healthz"),
        (r"^a\-b/c\.d/?$", "/a-b/c.d/"),
    ],
)
def test_sample_paths(regex: str, sample: str) -> None:
    assert sample_path(regex) == sample


@pytest.fixture(scope="module")
def demo_endpoints() -> list[Endpoint]:
    """The real demo monolith's URLconf, read in a subprocess."""
    return load_endpoints("legacy_monolith.settings", cwd=ROOT)


def test_the_demo_monolith_is_listed_with_drf_methods(demo_endpoints: list[Endpoint]) -> None:
    by_pattern = {e.pattern: e for e in demo_endpoints}
    detail = by_pattern["api/products/<pk>/"]
    assert detail.sample == "/api/products/1/"
    assert detail.view == "legacy_monolith.catalog.views.ProductViewSet"
    assert detail.methods is not None and {"GET", "HEAD", "PUT", "PATCH"} <= set(detail.methods)
    assert by_pattern["api/orders/<pk>/pay/"].methods == ("POST",)
    assert by_pattern["healthz"].methods is None  # a plain function view declares none
    assert all(e.resolves for e in demo_endpoints if e.pattern.startswith("api/"))
    assert not any(".json" in e.sample or "format" in e.pattern for e in demo_endpoints)


def test_states_per_method_orphans_and_share(demo_endpoints: list[Endpoint]) -> None:
    table = parse_table(
        (ROOT / "routing.yaml").read_text()
        + """
  - name: gone
    match: {prefix: /api/wishlists/}
    mode: extracted
    to: catalog
"""
    )
    inv = build_inventory(table, [e for e in demo_endpoints if e.sample.startswith("/api/")])
    rows = {(r.pattern, r.methods): (r.route, r.state) for r in inv.rows}
    assert rows[("api/products/", ("GET", "HEAD"))] == ("product-list", "extracted")
    assert rows[("api/products/", ("POST",))] == ("product-writes", "legacy")
    assert rows[("api/products/<pk>/", ("GET", "HEAD"))] == ("product-detail", "canary 25%")
    assert rows[("api/orders/", ("GET", "HEAD", "POST"))] == (None, "uncovered")
    assert [r.name for r in inv.orphans] == ["gone"]
    counts = inv.counts()
    assert counts["extracted"] == 6 and counts["canary"] == 2
    assert inv.share_migrated == counts["extracted"] / sum(counts.values())


def test_inventory_command(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("inventory", "--prefix", "/api/", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["orphan_routes"] == []
    assert 0 < data["share_migrated"] < 1
    code, out, _ = cli("inventory", "--prefix", "/api/products/")
    assert code == 0
    assert out.splitlines()[0].split() == ["PATTERN", "METHODS", "ROUTE", "STATE", "VIEW"]
    assert "api/products/<pk>/  GET,HEAD   product-detail  canary 25%" in out
    assert out.rstrip().endswith("2 canary, 3 legacy")
    assert load_table(ROOT / "routing.yaml").sha256  # untouched, still valid


def test_a_broken_settings_module_is_a_usage_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(InventoryError, match="no_such_settings"):
        load_endpoints("no_such_settings", cwd=ROOT)
    code, _, err = cli("inventory", "--settings", "no_such_settings")
    assert code == 2
    assert "cannot load the URL configuration of no_such_settings" in err
