from __future__ import annotations

from decimal import Decimal

import pytest

from strangler_proxy.shadow import Captured, CompareRules, Verdict, compare
from strangler_proxy.shadow._fakes import json_side
from strangler_proxy.shadow._paths import Keyed, compile_pattern, generic, render
from strangler_proxy.shadow.compare import normalize_bytes


def diffs(a: object, b: object, **config: object) -> list[tuple[str, str]]:
    comparison = compare(json_side(a), json_side(b), CompareRules.from_config(config))
    return [(d.path, d.kind) for d in comparison.differences]


def test_equal_json_matches_whatever_the_key_order() -> None:
    a = json_side({"id": 1, "name": "x", "tags": [1, 2]})
    b = Captured(
        200, (("content-type", "application/json"),), b'{"tags":[1,2],"name":"x","id":1}', 0
    )
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH


def test_value_type_missing_extra_and_array_differences() -> None:
    got = diffs(
        {"a": 1, "b": "1", "c": True, "gone": 0, "list": [1, 2]},
        {"a": 2, "b": 1, "c": 1, "new": 0, "list": [1]},
    )
    assert got == [
        ("$.a", "value"),
        ("$.b", "type"),
        ("$.c", "type"),
        ("$.gone", "missing"),
        ("$.list[1]", "missing"),
        ("$.new", "extra"),
    ]


def test_numbers_compare_by_value_not_spelling() -> None:
    a = Captured(200, (("content-type", "application/json"),), b'{"n": 1, "f": 0.1}', 0)
    b = Captured(200, (("content-type", "application/json"),), b'{"n": 1.0, "f": 0.10}', 0)
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH


def test_true_is_not_one_even_where_python_says_equal() -> None:
    # Python has True == 1 and {"a": [True]} == {"a": [1]}: the quick equality check must not
    # let that through, whether the word true appears in one body or in both
    assert diffs({"a": [True], "n": 0}, {"a": [1], "n": False}) == [
        ("$.a[0]", "type"),
        ("$.n", "type"),
    ]
    assert diffs({"a": True, "b": "true"}, {"a": 1, "b": "true"}) == [("$.a", "type")]
    assert diffs({"a": True, "b": [None, False]}, {"a": True, "b": [None, False]}) == []


def test_true_is_not_one_in_utf16_bodies_either() -> None:
    # the quick check looks for the words true/false in the bytes: UTF-16 spells them apart
    json_ = (("content-type", "application/json"),)
    for a, b in (
        ('{"ok": true}'.encode("utf-16"), '{"ok": 1}'.encode("utf-16")),
        ('{"ok": true}'.encode("utf-16"), b'{"ok": 1}'),
        ('{"ok": true}'.encode("utf-32"), '{"ok": 1}'.encode("utf-32")),
    ):
        comparison = compare(Captured(200, json_, a, 0), Captured(200, json_, b, 0), CompareRules())
        assert [(d.path, d.kind) for d in comparison.differences] == [("$.ok", "type")]


def test_unordered_keys_compare_numbers_by_value() -> None:
    # elements pair up by key value as the walk compares values: 1 = 1.0 = 1E+0, -0 = 0,
    # but true is not 1; the quick check and the walk agree on every one
    rules = {"unordered": {"$.r": "id"}}
    assert diffs({"r": [{"id": 1}, {"id": 0}]}, {"r": [{"id": 0.0}, {"id": 1.0}]}, **rules) == []
    assert diffs({"r": [{"id": 100, "x": 1}]}, {"r": [{"id": 1e2, "x": 2}]}, **rules) == [
        ("$.r[id=100].x", "value")
    ]
    assert diffs({"r": [{"id": True}]}, {"r": [{"id": 1}]}, **rules) == [
        ("$.r[id=1]", "extra"),
        ("$.r[id=true]", "missing"),
    ]
    assert diffs({"r": [5]}, {"r": [5.0]}, **rules) == []


def test_nan_on_both_sides_is_the_same_answer() -> None:
    json_ = (("content-type", "application/json"),)
    a = Captured(200, json_, b'{"x": [NaN], "y": 1}', 0)
    b = Captured(200, json_, b'{"y": 1, "x": [NaN]}', 0)
    c = Captured(200, json_, b'{"y": 1, "x": [1.5]}', 0)
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH
    assert [d.path for d in compare(a, c, CompareRules()).differences] == ["$.x[0]"]


def test_tolerance_on_infinities_compares_them_plainly() -> None:
    rules = {"tolerance": {"$.v": 0.5}}
    json_ = (("content-type", "application/json"),)
    inf = Captured(200, json_, b'{"v": Infinity}', 0)
    other = Captured(200, json_, b'{"v": 2}', 0)
    assert compare(inf, inf, CompareRules.from_config(rules)).verdict is Verdict.MATCH
    got = compare(inf, other, CompareRules.from_config(rules)).differences
    assert [(d.path, d.kind) for d in got] == [("$.v", "value")]


def test_equal_documents_still_meet_the_matchers() -> None:
    # byte-identical answers skip the walk, except where a matcher can refuse what both share
    same = {"id": "not-a-uuid", "n": 1}
    assert diffs(same, same) == []
    assert diffs(same, same, matchers={"$.id": "uuid"}) == [("$.id", "matcher")]
    assert diffs(same, dict(reversed(same.items())), matchers={"$.id": "uuid"}) == [
        ("$.id", "matcher")
    ]


def test_equal_documents_under_every_other_rule() -> None:
    doc = {"results": [{"id": 1, "p": "1.50"}, {"id": 1, "p": "2"}, {"x": 0}], "t": "now"}
    rules = {
        "ignore": ["$.t"],
        "tolerance": {"$.results[*].p": 0.01},
        "unordered": {"$.results": "id"},
    }
    other = Captured(200, (("content-type", "application/json"),), json_dumps_spaced(doc), 0)
    comparison = compare(json_side(doc), other, CompareRules.from_config(rules))
    assert comparison.verdict is Verdict.MATCH


def json_dumps_spaced(doc: object) -> bytes:
    import json

    return json.dumps(doc, indent=2, sort_keys=True).encode()


@pytest.mark.parametrize(
    "pattern",
    ["$.results[*].updated_at", "$..updated_at", "$.results[1].updated_at", "$.*[*].updated_at"],
)
def test_ignore_with_wildcards(pattern: str) -> None:
    a = {"results": [{"id": 1, "updated_at": "x"}, {"id": 2, "updated_at": "y"}]}
    b = {"results": [{"id": 1, "updated_at": "x"}, {"id": 2, "updated_at": "z"}]}
    assert diffs(a, b) == [("$.results[1].updated_at", "value")]
    assert diffs(a, b, ignore=[pattern]) == []


def test_ignore_covers_missing_keys_and_only_the_path_given() -> None:
    assert diffs({"u": 1, "v": 1}, {"v": 2}, ignore=["$.u"]) == [("$.v", "value")]
    assert diffs({"a": {"u": 1}}, {"a": {"u": 2}}, ignore=["$.u"]) == [("$.a.u", "value")]
    assert diffs({"a": {"u": 1}}, {"a": {"u": 2}}, ignore=["$..u"]) == []


def test_absolute_tolerance_on_decimal_strings() -> None:
    assert diffs({"price": "12.50"}, {"price": "12.51"}) == [("$.price", "value")]
    assert diffs({"price": "12.50"}, {"price": "12.51"}, tolerance={"$.price": 0.01}) == []
    assert diffs({"price": "12.50"}, {"price": "12.52"}, tolerance={"$.price": 0.01}) == [
        ("$.price", "tolerance")
    ]
    assert diffs({"price": "12.50"}, {"price": 12.5}, tolerance={"$.price": "0"}) == []


def test_relative_tolerance() -> None:
    rule = {"tolerance": {"$..total": "1%"}}
    assert diffs({"total": 100}, {"total": 100.9}, **rule) == []
    assert diffs({"x": {"total": "100"}}, {"x": {"total": "101.5"}}, **rule) == [
        ("$.x.total", "tolerance")
    ]


def test_tolerance_falls_back_to_plain_comparison_for_non_numbers() -> None:
    assert diffs({"price": "n/a"}, {"price": "12"}, tolerance={"$.price": 1}) == [
        ("$.price", "value")
    ]


def test_unordered_arrays_pair_elements_by_key() -> None:
    a = {"results": [{"id": 1, "p": "1.00"}, {"id": 2, "p": "2.00"}, {"id": 3, "p": "3.00"}]}
    b = {"results": [{"id": 3, "p": "3.00"}, {"id": 1, "p": "1.50"}, {"id": 4, "p": "4.00"}]}
    assert diffs(a, b, unordered={"$.results": "id"}) == [
        ("$.results[id=1].p", "value"),
        ("$.results[id=2]", "missing"),
        ("$.results[id=4]", "extra"),
    ]
    same = {"results": list(reversed(a["results"]))}
    assert diffs(a, same, unordered={"$.results": "id"}) == []
    assert len(diffs(a, same)) > 0  # ordered by default


def test_unordered_duplicates_and_missing_keys() -> None:
    a = {"r": [{"id": 1}, {"id": 1}, {"name": "no id"}]}
    b = {"r": [{"id": 1}, {"name": "other"}]}
    got = compare(
        json_side(a), json_side(b), CompareRules.from_config({"unordered": {"$.r": "id"}})
    )
    assert [(d.path, d.kind, d.primary, d.shadow) for d in got.differences] == [
        ("$.r[id=1]", "duplicate_key", 2, 1),
        ("$.r[id=null]", "missing_key", [{"name": "no id"}], [{"name": "other"}]),
    ]
    assert got.differences[0].field == "$.r[*]"
    b_same = {"r": [{"name": "no id"}, {"id": 1}, {"id": 1}]}
    assert diffs(a, b_same, unordered={"$.r": "id"}) == []


def test_matchers_need_both_sides_to_match_not_to_be_equal() -> None:
    rules = {
        "matchers": {
            "$.id": "uuid",
            "$.created_at": "timestamp",
            "$.sku": r"regex:^SKU-\d+$",
            "$.anything": "any",
        }
    }
    a = {
        "id": "0b6c2f6e-3e27-4d7c-9d4b-7f1f4d7f2a11",
        "created_at": "2026-01-01T12:00:00.123456Z",
        "sku": "SKU-1",
        "anything": 1,
    }
    b = {
        "id": "8f2d8a3c-0c9e-4b1a-8e53-6a1d2c3b4a5f",
        "created_at": "2026-01-02T00:00:00+00:00",
        "sku": "SKU-22",
        "anything": [2],
    }
    assert diffs(a, b, **rules) == []
    bad = {**b, "id": "not-a-uuid", "created_at": "yesterday", "sku": "sku-22"}
    assert diffs(a, bad, **rules) == [
        ("$.created_at", "matcher"),
        ("$.id", "matcher"),
        ("$.sku", "matcher"),
    ]


def test_headers_compared_case_insensitively_and_only_those_configured() -> None:
    a = Captured(
        200, (("Content-Type", "application/json; charset=utf-8"), ("ETag", "1")), b"{}", 0
    )
    b = Captured(200, (("content-type", "application/json;charset=UTF-8"), ("etag", "2")), b"{}", 0)
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH
    got = compare(a, b, CompareRules(headers=("Content-Type", "ETag")))
    assert [(d.path, d.primary, d.shadow) for d in got.differences] == [("headers.etag", "1", "2")]


def test_date_and_server_are_never_compared() -> None:
    with pytest.raises(ValueError, match=r"^headers: 'date'"):
        CompareRules.from_config({"headers": ["content-type", "Date"]})
    # nor what one connection carried the answer with: the two sides' differ by their hop
    with pytest.raises(ValueError, match=r"^headers: 'transfer-encoding' describes one conn"):
        CompareRules.from_config({"headers": ["Transfer-Encoding"]})
    a = Captured(200, (("Date", "Mon"), ("Server", "gunicorn")), b"", 0)
    b = Captured(200, (("Date", "Tue"), ("Server", "werkzeug")), b"", 0)
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH


def test_non_json_bodies_compare_as_normalized_bytes() -> None:
    html = (("content-type", "text/html"),)
    a = Captured(200, html, b"<p>hi</p>  \r\n<p>x</p>\n\n", 0)
    b = Captured(200, html, b"<p>hi</p>\n<p>x</p>", 0)
    assert compare(a, b, CompareRules()).verdict is Verdict.MATCH
    c = Captured(200, html, b"<p>hi</p>\n<p>y</p>", 0)
    (diff,) = compare(a, c, CompareRules()).differences
    assert (diff.path, diff.kind) == ("body", "body")
    assert diff.primary.endswith("<p>x</p>") and diff.shadow.endswith("<p>y</p>")  # type: ignore[attr-defined]
    assert normalize_bytes(b"a \t\r\nb\n\n") == b"a\nb"


def test_invalid_json_on_one_side() -> None:
    a = json_side({"ok": True})
    b = Captured(200, (("content-type", "application/json"),), b"<html>500</html>", 0)
    got = compare(a, b, CompareRules())
    assert got.verdict is Verdict.MISMATCH
    assert [(d.path, d.kind, d.shadow) for d in got.differences] == [
        ("body", "invalid_json", "<html>500</html>")
    ]


def test_status_mismatch() -> None:
    got = compare(json_side({"d": 1}, status=200), json_side({"d": 1}, status=404), CompareRules())
    assert [(d.path, d.kind, d.primary, d.shadow) for d in got.differences] == [
        ("status", "status", 200, 404)
    ]


def test_error_on_one_side_is_an_error_verdict() -> None:
    failed = json_side(b"", status=None, error="upstream_timeout")
    got = compare(json_side({"a": 1}), failed, CompareRules())
    assert got.verdict is Verdict.ERROR
    assert [(d.kind, d.primary, d.shadow) for d in got.differences] == [
        ("error", None, "upstream_timeout")
    ]


def test_noise_fields_are_excluded() -> None:
    a, b = json_side({"u": 1, "v": 1}), json_side({"u": 2, "v": 1})
    got = compare(a, b, CompareRules(), frozenset({"$.u"}))
    assert (got.verdict, got.differences, got.noise) == (Verdict.NOISE_ONLY, (), ("$.u",))
    c = json_side({"u": 2, "v": 2})
    got = compare(a, c, CompareRules(), frozenset({"$.u"}))
    assert got.verdict is Verdict.MISMATCH and [d.path for d in got.differences] == ["$.v"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ignroe": []}, r"^ignroe: unknown key"),
        ({"ignore": "$.a"}, r"^ignore: must be a list"),
        ({"ignore": ["a.b"]}, r"^ignore.a.b: path 'a.b' must start with '\$'"),
        ({"tolerance": {"$.p": "cheap"}}, r"^tolerance.\$.p: must be a number"),
        ({"tolerance": {"$.p": -1}}, r"^tolerance.\$.p: must be a number >= 0"),
        ({"unordered": {"$.r": 3}}, r"^unordered.\$.r: must name the key field"),
        ({"matchers": {"$.id": "guid"}}, r"^matchers.\$.id: must be uuid"),
        ({"matchers": {"$.id": "regex:("}}, r"^matchers.\$.id: bad regular expression"),
        ({"redact": ["$.["]}, r"^redact.\$.\[: "),
    ],
)
def test_from_config_names_the_offending_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompareRules.from_config(config)


def test_from_config_parses_every_rule() -> None:
    rules = CompareRules.from_config(
        {
            "headers": ["Content-Type", "ETag"],
            "ignore": ["$.updated_at"],
            "tolerance": {"$.price": 0.005, "$.total": "1%"},
            "unordered": {"$.results": "id"},
            "matchers": {"$.id": "uuid"},
            "redact": ["$.token"],
        }
    )
    assert rules.headers == ("content-type", "etag")
    assert rules.tolerance["$.price"].absolute == Decimal("0.005")
    assert rules.tolerance["$.total"].relative == Decimal("0.01")
    assert rules.redact == ("$.token",)


def test_paths_render_and_generalize() -> None:
    path = ("results", Keyed("id", 17), "price")
    assert render(path) == "$.results[id=17].price"
    assert generic(path) == generic(("results", 0, "price")) == "$.results[*].price"
    assert render(("weird key", 0)) == '$["weird key"][0]'
    assert compile_pattern("$['weird key'][*]").matches(("weird key", 3))
    assert not compile_pattern("$.a").matches(("a", "b"))
    assert compile_pattern("$..*").matches(("a", 1, "b"))
