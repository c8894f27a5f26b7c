"""Matching precedence, trailing slashes, methods and header conditions (in-process units)."""

from __future__ import annotations

import pytest

from strangler_proxy.config import parse_table
from strangler_proxy.routing import Router, compile_template
from strangler_proxy.testing.harness import table_yaml

UP = {"legacy": "http://127.0.0.1:1", "catalog": "http://127.0.0.1:2"}


def router(*routes: dict[str, object]) -> Router:
    return Router(parse_table(table_yaml(UP, list(routes))))


def r(name: str, **match: object) -> dict[str, object]:
    return {"name": name, "match": match, "mode": "extracted", "to": "catalog"}


def matched(rt: Router, path: str, method: str = "GET", **headers: str) -> str | None:
    m = rt.match(method, path, {k.lower().replace("_", "-"): v for k, v in headers.items()})
    return m.route.name if m.route else None


def test_compile_template_converters() -> None:
    regex, literal, params = compile_template("/api/products/{id:int}/{slug:slug}/")
    assert regex.fullmatch("/api/products/12/red-shoe/")
    assert not regex.fullmatch("/api/products/x/red-shoe/")
    assert (literal, params) == (len("/api/products///"), 2)


def test_no_match_goes_to_default() -> None:
    rt = router(r("detail", path="/api/products/{id}/"))
    assert matched(rt, "/api/orders/") is None
    assert matched(rt, "/api/products/") is None


def test_template_beats_prefix_regardless_of_order() -> None:
    rt = router(r("all-api", prefix="/api/"), r("detail", path="/api/products/{id}/"))
    assert matched(rt, "/api/products/3/") == "detail"
    assert matched(rt, "/api/orders/3/") == "all-api"


def test_more_literal_template_wins() -> None:
    rt = router(
        r("detail", path="/api/products/{id}/"), r("featured", path="/api/products/featured/")
    )
    assert matched(rt, "/api/products/featured/") == "featured"
    assert matched(rt, "/api/products/9/") == "detail"


def test_fewer_parameters_win_on_equal_literals() -> None:
    rt = router(r("two", path="/a/{x}/{y}/"), r("one", path="/a/{x}/b/"))
    assert matched(rt, "/a/1/b/") == "one"
    assert matched(rt, "/a/1/c/") == "two"


def test_longer_prefix_wins() -> None:
    rt = router(r("short", prefix="/api/"), r("long", prefix="/api/catalog/"))
    assert matched(rt, "/api/catalog/items/") == "long"
    assert matched(rt, "/api/other/") == "short"


def test_methods_restrict_and_beat_any_method() -> None:
    rt = router(
        r("any", path="/api/products/{id}/"),
        r("reads", path="/api/products/{id}/", methods=["GET", "HEAD"]),
    )
    assert matched(rt, "/api/products/1/", "GET") == "reads"
    assert matched(rt, "/api/products/1/", "HEAD") == "reads"
    assert matched(rt, "/api/products/1/", "PUT") == "any"


def test_header_conditions() -> None:
    rt = router(
        r("plain", path="/api/products/"),
        r("beta", path="/api/products/", headers={"X-Beta": "1"}),
        r("present", path="/api/products/", headers={"X-Canary": None}),
    )
    assert matched(rt, "/api/products/", x_beta="1") == "beta"
    assert matched(rt, "/api/products/", x_beta="2") == "plain"
    assert matched(rt, "/api/products/", x_canary="anything") == "present"
    assert matched(rt, "/api/products/") == "plain"


def test_first_written_wins_a_tie() -> None:
    assert (
        matched(router(r("first", path="/a/{x}/"), r("second", path="/a/{y}/")), "/a/1/") == "first"
    )
    assert (
        matched(router(r("second", path="/a/{y}/"), r("first", path="/a/{x}/")), "/a/1/")
        == "second"
    )


def test_method_list_outranks_order() -> None:
    rt = router(r("first", path="/a/{x}/"), r("second", path="/a/{y}/", methods=["GET"]))
    assert matched(rt, "/a/1/", "GET") == "second"
    assert matched(rt, "/a/1/", "POST") == "first"


@pytest.mark.parametrize(
    ("path", "route", "append"),
    [
        ("/api/products/7/", "detail", False),
        ("/api/products/7", "detail", True),  # Django would redirect to the slashed path
        ("/api/catalog", "catalog", True),
        ("/api/catalog/x", "catalog", False),
        ("/api/products", None, False),  # no template ends there
    ],
)
def test_append_slash(path: str, route: str | None, append: bool) -> None:
    rt = router(r("detail", path="/api/products/{id}/"), r("catalog", prefix="/api/catalog/"))
    m = rt.match("GET", path, {})
    assert (m.route.name if m.route else None, m.append_slash) == (route, append)


def test_params_are_returned() -> None:
    rt = router(r("detail", path="/api/products/{id:int}/"))
    m = rt.match("GET", "/api/products/42/", {})
    assert dict(m.params) == {"id": "42"}
    assert rt.match("GET", "/api/products/abc/", {}).route is None
