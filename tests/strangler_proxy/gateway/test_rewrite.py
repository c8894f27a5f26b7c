"""Path, header and pagination-link rewriting (pure functions, no I/O)."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from strangler_proxy.gateway.rewrite import (
    MAX_LINKS_BODY,
    is_json_content_type,
    public_path,
    public_url,
    rewrite_links,
    rewrite_request_headers,
    rewrite_response_headers,
    rewrite_target,
    template_names,
)
from strangler_proxy.gateway.spec import HeaderRewrite, PathRewrite, PathRewriteKind, RewriteSpec

STRIP = PathRewrite(PathRewriteKind.STRIP_PREFIX, "/api/catalog", "")
STRIP_SLASH = PathRewrite(PathRewriteKind.STRIP_PREFIX, "/api/catalog/", "")
STRIP_ROOT = PathRewrite(PathRewriteKind.STRIP_PREFIX, "/", "")
REPLACE = PathRewrite(PathRewriteKind.REPLACE_PREFIX, "/api/catalog/", "/catalog/v2/")
REPLACE_TO_ROOT = PathRewrite(PathRewriteKind.REPLACE_PREFIX, "/api/catalog", "/")
REPLACE_DEEPER = PathRewrite(PathRewriteKind.REPLACE_PREFIX, "/api/", "/api/v2/")
TEMPLATE = PathRewrite(PathRewriteKind.TEMPLATE, "", "/v1/items/{id}/")

BASES = [
    "http://127.0.0.1:8101",
    "http://[::1]:8102",
    "https://Catalog.Internal",
    "http://10.0.0.5:80",
]
PUBLIC = "http://shop.example"


# -- rewrite_target: prefixes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "target", "expected"),
    [
        (STRIP, "/api/catalog/products/7/?a=1", "/products/7/?a=1"),
        (STRIP_SLASH, "/api/catalog/products/", "/products/"),
        (STRIP, "/api/catalog/", "/"),
        (STRIP_SLASH, "/api/catalog/", "/"),
        (STRIP, "/api/catalog", "/"),  # always starts with "/"
        (STRIP_SLASH, "/api/catalog", "/"),  # with or without the slash: same boundary
        (STRIP, "/api/catalog?a=1", "/?a=1"),
        (STRIP, "/api/catalogue/", "/api/catalogue/"),  # not a segment boundary
        (STRIP_SLASH, "/api/catalogue/", "/api/catalogue/"),
        (STRIP, "/api/catalog-x/1/", "/api/catalog-x/1/"),
        (STRIP, "/other/api/catalog/", "/other/api/catalog/"),  # not at the start
        (STRIP, "/x/?next=/api/catalog/", "/x/?next=/api/catalog/"),  # prefix only in the query
        (STRIP, "/api/catalog/a%2Fb/%20x/?q=%26&r=%2F", "/a%2Fb/%20x/?q=%26&r=%2F"),
        (STRIP, "/api/catalog%2Fproducts/", "/api/catalog%2Fproducts/"),  # encoded "/" is no "/"
        (STRIP_ROOT, "/products/?a=1", "/products/?a=1"),
        (REPLACE, "/api/catalog/products/7/?a=1", "/catalog/v2/products/7/?a=1"),
        (REPLACE, "/api/catalog/", "/catalog/v2/"),
        (REPLACE, "/api/catalogue/", "/api/catalogue/"),
        (REPLACE, "/api/orders/", "/api/orders/"),
        (REPLACE, "/api/catalog/%7Ex/?a=%20", "/catalog/v2/%7Ex/?a=%20"),
        (REPLACE_TO_ROOT, "/api/catalog/products/", "/products/"),
        (REPLACE_TO_ROOT, "/api/catalog", "/"),
        (REPLACE_TO_ROOT, "/api/catalog?page=2", "/?page=2"),
        (REPLACE_DEEPER, "/api/products/", "/api/v2/products/"),
        (REPLACE_DEEPER, "/apix/products/", "/apix/products/"),
    ],
)
def test_rewrite_target_prefixes(spec: PathRewrite, target: str, expected: str) -> None:
    assert rewrite_target(spec, target, {}) == expected


# -- rewrite_target: templates ----------------------------------------------------------------


def tpl(template: str) -> PathRewrite:
    return PathRewrite(PathRewriteKind.TEMPLATE, "", template)


@pytest.mark.parametrize(
    ("spec", "target", "params", "expected"),
    [
        (TEMPLATE, "/api/products/7/", {"id": "7"}, "/v1/items/7/"),
        (TEMPLATE, "/api/products/7/?a=1&b=%20", {"id": "7"}, "/v1/items/7/?a=1&b=%20"),
        (TEMPLATE, "/api/products/7/?", {"id": "7"}, "/v1/items/7/?"),
        # decoded values are encoded in full: they cannot add segments or start a query
        (TEMPLATE, "/api/products/a%2Fb%3Fc/", {"id": "a/b?c"}, "/v1/items/a%2Fb%3Fc/"),
        (TEMPLATE, "/x/", {"id": "../admin"}, "/v1/items/..%2Fadmin/"),
        (TEMPLATE, "/x/", {"id": "100% #1&x=y"}, "/v1/items/100%25%20%231%26x%3Dy/"),
        (TEMPLATE, "/x/", {"id": "crème"}, "/v1/items/cr%C3%A8me/"),
        (TEMPLATE, "/x/", {"id": "a-b_c.d~e"}, "/v1/items/a-b_c.d~e/"),  # unreserved stay
        (
            tpl("/v1/{shop}/items/{pk:int}/{shop}"),
            "/x/",
            {"shop": "s", "pk": "9"},
            "/v1/s/items/9/s",
        ),
        (tpl("/v1/items/{id}{ext}"), "/x/", {"id": "7", "ext": ".json"}, "/v1/items/7.json"),
        (tpl("/v1/static/"), "/x/?a=1", {"id": "7"}, "/v1/static/?a=1"),  # unused params
        (tpl("/v1/items/?id={id}"), "/x/", {"id": "7"}, "/v1/items/?id=7"),
        (tpl("/v1/items/?id={id}"), "/x/?a=1", {"id": "7"}, "/v1/items/?id=7&a=1"),
        (tpl("/v1/items/?id={id}"), "/x/?", {"id": "7"}, "/v1/items/?id=7"),
    ],
)
def test_rewrite_target_template(
    spec: PathRewrite, target: str, params: dict[str, str], expected: str
) -> None:
    assert rewrite_target(spec, target, params) == expected


def test_rewrite_target_template_missing_param_raises() -> None:
    with pytest.raises(KeyError, match="id"):
        rewrite_target(TEMPLATE, "/x/", {"pk": "7"})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/v1/items/{id}/", ("id",)),
        ("/v1/{shop}/items/{id}/{shop}/", ("shop", "id")),  # each once, first use order
        ("/v1/items/{pk:int}/{slug:slug}/", ("pk", "slug")),
        ("/v1/items/", ()),
        ("/{_x1}", ("_x1",)),
    ],
)
def test_template_names(template: str, expected: tuple[str, ...]) -> None:
    assert template_names(template) == expected


@pytest.mark.parametrize(
    "template", ["/v1/{id", "/v1/id}/", "/v1/{1d}/", "/v1/{}/", "/v1/{id:Int}/", "/{a-b}/"]
)
def test_template_names_rejects_malformed(template: str) -> None:
    with pytest.raises(ValueError, match="malformed path template"):
        template_names(template)


# -- public_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path", "expected"),
    [
        (STRIP, "/products/7/", "/api/catalog/products/7/"),
        (STRIP_SLASH, "/products/7/", "/api/catalog/products/7/"),  # no double slash
        (STRIP, "/", "/api/catalog/"),
        (STRIP, "/a%2Fb/", "/api/catalog/a%2Fb/"),
        (STRIP_ROOT, "/products/", "/products/"),
        (REPLACE, "/catalog/v2/products/", "/api/catalog/products/"),
        (REPLACE, "/catalog/v2", "/api/catalog"),
        (REPLACE, "/catalog/v2x/products/", "/catalog/v2x/products/"),  # boundary
        (REPLACE, "/elsewhere/", "/elsewhere/"),
        (REPLACE_TO_ROOT, "/products/", "/api/catalog/products/"),
        (REPLACE_DEEPER, "/api/v2/products/", "/api/products/"),
        (TEMPLATE, "/v1/items/7/", "/v1/items/7/"),
        (None, "/products/", "/products/"),
        (STRIP, "products/", "products/"),  # relative: not a path we map
        (STRIP, "", ""),
    ],
)
def test_public_path(spec: PathRewrite | None, path: str, expected: str) -> None:
    assert public_path(spec, path) == expected


@pytest.mark.parametrize("spec", [STRIP, STRIP_SLASH, REPLACE, REPLACE_TO_ROOT, REPLACE_DEEPER])
@pytest.mark.parametrize(
    "suffix", ["/", "/products/", "/products/7/", "/a%2Fb/c%20d/", "/products/?page=2"]
)
def test_public_path_reverses_prefix_rewrites(spec: PathRewrite, suffix: str) -> None:
    public = spec.source.rstrip("/") + suffix
    upstream = rewrite_target(spec, public, {})
    assert upstream != public
    assert public_path(spec, upstream) == public


# -- public_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        (
            "http://127.0.0.1:8101/products/?page=2",
            STRIP,
            "http://shop.example/api/catalog/products/?page=2",
        ),
        ("http://127.0.0.1:8101/products/?page=2", None, "http://shop.example/products/?page=2"),
        (
            "http://127.0.0.1:8101/p/?page=2#top",
            STRIP,
            "http://shop.example/api/catalog/p/?page=2#top",
        ),
        ("http://127.0.0.1:8101/p/#a?b", STRIP, "http://shop.example/api/catalog/p/#a?b"),
        (
            "http://127.0.0.1:8101/a%2Fb/?q=%20&r=%2F",
            STRIP,
            "http://shop.example/api/catalog/a%2Fb/?q=%20&r=%2F",
        ),
        ("http://127.0.0.1:8101", STRIP, "http://shop.example/api/catalog/"),  # empty path is "/"
        ("http://127.0.0.1:8101?page=2", None, "http://shop.example/?page=2"),
        ("http://127.0.0.1:8101/catalog/v2/p/", REPLACE, "http://shop.example/api/catalog/p/"),
        ("http://127.0.0.1:8101/v1/items/7/", TEMPLATE, "http://shop.example/v1/items/7/"),
        # case-insensitive scheme and host
        ("HTTPS://CATALOG.internal/p/", None, "http://shop.example/p/"),
        ("Http://127.0.0.1:8101/P/", None, "http://shop.example/P/"),  # path case kept
        # default ports equal absent ones, on either side
        ("https://catalog.internal:443/p/", None, "http://shop.example/p/"),
        ("http://10.0.0.5/p/", None, "http://shop.example/p/"),
        ("http://10.0.0.5:80/p/", None, "http://shop.example/p/"),
        ("http://10.0.0.5:/p/", None, "http://shop.example/p/"),  # empty port: the default
        # IPv6 literals, compared canonically
        ("http://[::1]:8102/p/", STRIP, "http://shop.example/api/catalog/p/"),
        ("http://[0:0:0:0:0:0:0:1]:8102/p/", None, "http://shop.example/p/"),
        # absolute-path references: the path only
        ("/products/?page=2", STRIP, "/api/catalog/products/?page=2"),
        ("/products/#x", STRIP, "/api/catalog/products/#x"),
        ("/catalog/v2/products/", REPLACE, "/api/catalog/products/"),
        ("/products/?page=2", None, "/products/?page=2"),
        ("/products/?page=2", TEMPLATE, "/products/?page=2"),
        # another origin, or not an absolute URL / path: left alone
        ("http://127.0.0.1:9999/p/", STRIP, None),  # other port
        ("http://127.0.0.1:81010/p/", STRIP, None),
        ("http://127.0.0.1:810/p/", STRIP, None),
        ("https://127.0.0.1:8101/p/", STRIP, None),  # other scheme
        ("http://catalog.internal/p/", STRIP, None),  # https base, default port 443
        ("https://catalog.internal:8443/p/", STRIP, None),
        ("http://127.0.0.1.evil.example:8101/p/", STRIP, None),
        ("http://127.0.0.2:8101/p/", STRIP, None),
        ("http://[::1]:8101/p/", STRIP, None),  # IPv6 host, IPv4 base's port
        ("http://[::2]:8102/p/", STRIP, None),
        ("http://[::1:8102/p/", STRIP, None),  # unclosed bracket
        ("http://[::1]x/p/", STRIP, None),
        ("http://user:pw@127.0.0.1:8101/p/", STRIP, None),  # credentials: never ours
        ("http://127.0.0.1:abc/p/", STRIP, None),
        ("http://127.0.0.1:99999/p/", STRIP, None),
        ("https://cdn.example/img.png", STRIP, None),
        ("//127.0.0.1:8101/p/", STRIP, None),  # network-path reference
        ("products/?page=2", STRIP, None),
        ("../up/", STRIP, None),
        ("?page=2", STRIP, None),
        ("#frag", STRIP, None),
        ("mailto:ops@shop.example", STRIP, None),
        ("", STRIP, None),
        ("http:/127.0.0.1:8101/p/", STRIP, None),
    ],
)
def test_public_url(value: str, spec: PathRewrite | None, expected: str | None) -> None:
    assert public_url(value, BASES, PUBLIC, spec) == expected


@pytest.mark.parametrize(
    ("public_base", "expected"),
    [
        ("http://shop.example/", "http://shop.example/api/catalog/p/"),
        ("https://shop.example:8443", "https://shop.example:8443/api/catalog/p/"),
        ("http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080/api/catalog/p/"),
    ],
)
def test_public_url_public_base(public_base: str, expected: str) -> None:
    assert public_url("http://127.0.0.1:8101/p/", BASES, public_base, STRIP) == expected


@pytest.mark.parametrize(
    ("bases", "value", "expected"),
    [
        ([], "http://127.0.0.1:8101/p/", None),
        (["http://127.0.0.1:8101/"], "http://127.0.0.1:8101/p/", "http://shop.example/p/"),
        (["http://LOCALHOST:8101"], "http://localhost:8101/p/", "http://shop.example/p/"),
        (["http://[0::1]:8101"], "http://[::1]:8101/p/", "http://shop.example/p/"),
        (["https://a.internal:443"], "https://a.internal/p/", "http://shop.example/p/"),
        (["not a url", "http://b:1"], "http://b:1/p/", "http://shop.example/p/"),
        (["not a url"], "http://127.0.0.1:8101/p/", None),
    ],
)
def test_public_url_bases(bases: list[str], value: str, expected: str | None) -> None:
    assert public_url(value, bases, PUBLIC, None) == expected


# -- headers ----------------------------------------------------------------------------------


def items(headers: CIMultiDict[str]) -> list[tuple[str, str]]:
    return list(headers.items())


@pytest.mark.parametrize(
    ("before", "spec", "after"),
    [
        pytest.param(
            [("X-Debug", "1"), ("Accept", "*/*"), ("x-debug", "2")],
            HeaderRewrite(remove=frozenset({"x-debug"})),
            [("Accept", "*/*")],
            id="remove-every-value-any-case",
        ),
        pytest.param(
            [("X-Old", "a"), ("Accept", "*/*"), ("x-old", "b"), ("X-OLD", "c")],
            HeaderRewrite(rename=(("x-old", "X-New"),)),
            [("Accept", "*/*"), ("X-New", "a"), ("X-New", "b"), ("X-New", "c")],
            id="rename-keeps-repeats-in-order",
        ),
        pytest.param(
            [("X-New", "first"), ("X-Old", "a")],
            HeaderRewrite(rename=(("x-old", "X-New"),)),
            [("X-New", "first"), ("X-New", "a")],
            id="rename-onto-existing-appends",
        ),
        pytest.param(
            [("Accept", "*/*")],
            HeaderRewrite(rename=(("x-missing", "X-New"),)),
            [("Accept", "*/*")],
            id="rename-missing-is-noop",
        ),
        pytest.param(
            [("x-tenant", "a"), ("Accept", "*/*"), ("X-Tenant", "b")],
            HeaderRewrite(add=(("X-Tenant", "shop"),)),
            [("X-Tenant", "shop"), ("Accept", "*/*")],
            id="add-replaces-every-value-any-case",
        ),
        pytest.param(
            [("Accept", "*/*")],
            HeaderRewrite(add=(("X-A", "1"), ("x-a", "2"), ("X-B", "3"))),
            [("Accept", "*/*"), ("X-A", "1"), ("x-a", "2"), ("X-B", "3")],
            id="add-same-name-twice-sends-both",
        ),
        pytest.param(
            [("X-Old", "a"), ("X-Gone", "g")],
            HeaderRewrite(
                remove=frozenset({"x-old"}),
                rename=(("x-old", "X-New"), ("x-gone", "X-Kept")),
                add=(("x-kept", "added"),),
            ),
            [("x-kept", "added")],
            id="order-remove-rename-add",
        ),
        pytest.param(
            [("A", "1"), ("a", "2")], HeaderRewrite(), [("A", "1"), ("a", "2")], id="empty-spec"
        ),
    ],
)
def test_rewrite_request_headers(
    before: list[tuple[str, str]], spec: HeaderRewrite, after: list[tuple[str, str]]
) -> None:
    headers = CIMultiDict(before)
    rewrite_request_headers(headers, spec)
    assert items(headers) == after


RESPONSE_RULES = HeaderRewrite(
    remove=frozenset({"server"}),
    rename=(("x-upstream-id", "X-Request-Id"),),
    add=(("X-Served-By", "strangler"),),
)


@pytest.mark.parametrize(
    ("before", "spec", "after"),
    [
        pytest.param(
            [("Location", "http://127.0.0.1:8101/products/8/"), ("Content-Type", "text/html")],
            RewriteSpec(path=STRIP),
            [
                ("Location", "http://shop.example/api/catalog/products/8/"),
                ("Content-Type", "text/html"),
            ],
            id="location-absolute",
        ),
        pytest.param(
            [("location", "/products/8/?a=1"), ("content-location", "http://[::1]:8102/p/8/")],
            RewriteSpec(path=STRIP),
            [  # a rewritten header gets its canonical name (names are case-insensitive)
                ("Location", "/api/catalog/products/8/?a=1"),
                ("Content-Location", "http://shop.example/api/catalog/p/8/"),
            ],
            id="location-path-and-content-location-any-case",
        ),
        pytest.param(
            [("Location", "http://127.0.0.1:8101/products/8/")],
            RewriteSpec(),
            [("Location", "http://shop.example/products/8/")],
            id="no-path-rewrite-still-public-host",
        ),
        pytest.param(
            [("Location", "https://login.example/?next=/x"), ("Content-Location", "p/8/")],
            RewriteSpec(path=STRIP),
            [("Location", "https://login.example/?next=/x"), ("Content-Location", "p/8/")],
            id="foreign-and-relative-untouched",
        ),
        pytest.param(
            [("Location", "http://127.0.0.1:8101/p/")],
            RewriteSpec(path=STRIP, public_links=False),
            [("Location", "http://127.0.0.1:8101/p/")],
            id="public-links-off",
        ),
        pytest.param(
            [
                ("Server", "gunicorn"),
                ("Location", "http://127.0.0.1:8101/p/"),
                ("X-Upstream-Id", "r1"),
                ("x-upstream-id", "r2"),
            ],
            RewriteSpec(path=STRIP, response_headers=RESPONSE_RULES, public_links=False),
            [
                ("Location", "http://127.0.0.1:8101/p/"),
                ("X-Request-Id", "r1"),
                ("X-Request-Id", "r2"),
                ("X-Served-By", "strangler"),
            ],
            id="header-rules-apply-without-public-links",
        ),
        pytest.param(
            [("Server", "gunicorn"), ("Location", "/p/")],
            RewriteSpec(
                path=STRIP,
                response_headers=HeaderRewrite(add=(("Location", "/fixed/"),)),
            ),
            [("Server", "gunicorn"), ("Location", "/fixed/")],
            id="header-rules-after-links",
        ),
    ],
)
def test_rewrite_response_headers(
    before: list[tuple[str, str]], spec: RewriteSpec, after: list[tuple[str, str]]
) -> None:
    headers = CIMultiDict(before)
    rewrite_response_headers(headers, spec, BASES, PUBLIC)
    assert items(headers) == after


# -- pagination links -------------------------------------------------------------------------

UP = "http://127.0.0.1:8101"


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_rewrite_links_drf_page_number_envelope() -> None:
    page = {
        "count": 45,
        "next": f"{UP}/products/?page=3",
        "previous": f"{UP}/products/?page=1",
        "results": [{"id": 1, "url": f"{UP}/products/1/", "next": f"{UP}/x/"}],
    }
    out = rewrite_links(body(page), BASES, PUBLIC, STRIP)
    assert out is not None
    got = json.loads(out)
    assert list(got) == ["count", "next", "previous", "results"]  # key order kept
    assert got == {
        "count": 45,
        "next": "http://shop.example/api/catalog/products/?page=3",
        "previous": "http://shop.example/api/catalog/products/?page=1",
        "results": page["results"],  # only the envelope's links, nothing nested
    }


def test_rewrite_links_keeps_every_other_byte() -> None:
    raw = (
        b'{ "count" : 10.10, "big": 1e400, "n": 12345678901234567890123,\n'
        b' "title": "Cr\xc3\xa8me \\u00e9", "next" :\t"http:\\/\\/127.0.0.1:8101\\/p\\/?page=2",'
        b' "previous": null, "results": [ ] }\n'
    )
    out = rewrite_links(raw, BASES, PUBLIC, STRIP)
    assert out == raw.replace(
        b'"http:\\/\\/127.0.0.1:8101\\/p\\/?page=2"', b'"http://shop.example/api/catalog/p/?page=2"'
    )


@pytest.mark.parametrize(
    ("obj", "spec", "expected"),
    [
        pytest.param(
            {"next": f"{UP}/p/?cursor=cD0y", "previous": None, "results": []},
            STRIP,
            {
                "next": "http://shop.example/api/catalog/p/?cursor=cD0y",
                "previous": None,
                "results": [],
            },
            id="drf-cursor-previous-null",
        ),
        pytest.param(
            {"results": [], "previous": f"{UP}/catalog/v2/p/?limit=10&offset=0", "next": None},
            REPLACE,
            {
                "results": [],
                "previous": "http://shop.example/api/catalog/p/?limit=10&offset=0",
                "next": None,
            },
            id="drf-limit-offset-replace-prefix",
        ),
        pytest.param(
            {"next": "/products/?page=2", "previous": "/products/"},
            STRIP,
            {"next": "/api/catalog/products/?page=2", "previous": "/api/catalog/products/"},
            id="absolute-path-links",
        ),
        pytest.param(
            {"next": f"{UP}/p/?page=2", "previous": "https://other.example/p/"},
            None,
            {"next": "http://shop.example/p/?page=2", "previous": "https://other.example/p/"},
            id="other-host-untouched",
        ),
        pytest.param(
            {
                "data": [],
                "links": {
                    "self": "http://[::1]:8102/p/?page[number]=2",
                    "first": "/p/?page[number]=1",
                    "next": {"href": f"{UP}/p/?page[number]=3", "meta": {"href": f"{UP}/m/"}},
                    "last": None,
                    "about": "https://docs.example/",
                },
                "meta": {"next": f"{UP}/not-a-link/"},
            },
            STRIP,
            {
                "data": [],
                "links": {
                    "self": "http://shop.example/api/catalog/p/?page[number]=2",
                    "first": "/api/catalog/p/?page[number]=1",
                    "next": {
                        "href": "http://shop.example/api/catalog/p/?page[number]=3",
                        "meta": {"href": f"{UP}/m/"},
                    },
                    "last": None,
                    "about": "https://docs.example/",
                },
                "meta": {"next": f"{UP}/not-a-link/"},
            },
            id="links-object",
        ),
        pytest.param(
            {"next": f"{UP}/p/?q=cr%C3%A8me&t=\u00e9\u2028"},
            STRIP,
            {"next": "http://shop.example/api/catalog/p/?q=cr%C3%A8me&t=\u00e9\u2028"},
            id="non-ascii-link",
        ),
    ],
)
def test_rewrite_links(
    obj: dict[str, object], spec: PathRewrite | None, expected: dict[str, object]
) -> None:
    out = rewrite_links(body(obj), BASES, PUBLIC, spec)
    assert out is not None
    got = json.loads(out)
    assert got == expected
    assert list(got) == list(expected)  # key order kept


@pytest.mark.parametrize(
    ("raw", "spec"),
    [
        # nothing to change
        pytest.param(body({"next": None, "previous": None, "results": []}), STRIP, id="nulls"),
        pytest.param(body({"next": "https://other.example/p/?page=2"}), STRIP, id="other-host"),
        pytest.param(body({"next": "p/?page=2", "previous": "?page=1"}), STRIP, id="relative"),
        pytest.param(body({"next": "/p/?page=2"}), None, id="path-without-rewrite"),
        pytest.param(body({"next": "/p/?page=2"}), TEMPLATE, id="path-with-template"),
        pytest.param(body({"links": {"next": "https://other.example/"}}), STRIP, id="links-other"),
        # not the envelope
        pytest.param(body({"results": [{"next": f"{UP}/p/"}]}), STRIP, id="nested-next"),
        pytest.param(body([{"next": f"{UP}/p/"}]), STRIP, id="top-level-array"),
        pytest.param(body(f"{UP}/p/"), STRIP, id="top-level-string"),
        pytest.param(body({"next": 2, "previous": {"href": f"{UP}/p/"}}), STRIP, id="not-strings"),
        pytest.param(body({"links": [f"{UP}/p/"]}), STRIP, id="links-array"),
        pytest.param(body({"links": f"{UP}/p/"}), STRIP, id="links-string"),
        pytest.param(body({"nxt": f"{UP}/p/"}), STRIP, id="other-keys"),
        # garbage
        pytest.param(b"", STRIP, id="empty"),
        pytest.param(b"not json", STRIP, id="text"),
        pytest.param(b"<html>next</html>", STRIP, id="html"),
        pytest.param(b"{", STRIP, id="open-brace"),
        pytest.param(b'{"next"', STRIP, id="truncated-key"),
        pytest.param(b'{"next":', STRIP, id="truncated-colon"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/"', STRIP, id="unclosed"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/",}', STRIP, id="trailing-comma"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/"} x', STRIP, id="extra-data"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/"}{}', STRIP, id="two-objects"),
        pytest.param(b'{"next" "http://127.0.0.1:8101/p/"}', STRIP, id="missing-colon"),
        pytest.param(b'{next: "http://127.0.0.1:8101/p/"}', STRIP, id="bare-key"),
        pytest.param(b'{"a": 1 "next": "http://127.0.0.1:8101/p/"}', STRIP, id="missing-comma"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/\xff"}', STRIP, id="invalid-utf8"),
        pytest.param(b'\xef\xbb\xbf{"next": "http://127.0.0.1:8101/p/"}', STRIP, id="utf8-bom"),
        pytest.param('{"next": "http://127.0.0.1:8101/p/"}'.encode("utf-16"), STRIP, id="utf16"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/\\ud800"}', STRIP, id="lone-surrogate"),
        pytest.param(b'{"next": "http://127.0.0.1:8101/p/\x01"}', STRIP, id="control-char"),
        pytest.param(
            b'{"next": "http://127.0.0.1:8101/p/", "a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
            STRIP,
            id="deep-nesting",
        ),
        pytest.param(
            b'{"next": "http://127.0.0.1:8101/p/", "n": 1' + b"0" * 5000 + b"}",
            STRIP,
            id="huge-int",
        ),
    ],
)
def test_rewrite_links_returns_none(raw: bytes, spec: PathRewrite | None) -> None:
    assert rewrite_links(raw, BASES, PUBLIC, spec) is None


def test_rewrite_links_size_limit() -> None:
    head = b'{"next": "http://127.0.0.1:8101/p/"}'
    at_limit = head + b" " * (MAX_LINKS_BODY - len(head))
    assert len(at_limit) == MAX_LINKS_BODY
    out = rewrite_links(at_limit, BASES, PUBLIC, STRIP)
    assert out is not None
    assert json.loads(out) == {"next": "http://shop.example/api/catalog/p/"}
    assert rewrite_links(at_limit + b" ", BASES, PUBLIC, STRIP) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON;charset=UTF-8", True),
        ("  application/json  ", True),
        ("application/vnd.api+json", True),
        ("application/problem+json; charset=utf-8", True),
        ("application/hal+JSON", True),
        ("application/+json", False),
        ("application/jsonp", False),
        ("application/json-seq", False),
        ("application/x-ndjson", False),
        ("application/json5", False),
        ("text/json", False),
        ("text/html; charset=utf-8", False),
        ("application/xml", False),
        ("json", False),
        ("", False),
        (None, False),
    ],
)
def test_is_json_content_type(value: str | None, expected: bool) -> None:
    assert is_json_content_type(value) is expected


# -- relayed_headers and publisher (what the client gets of a service's answer) ---------------
def test_relayed_headers_drop_the_hop_and_what_every_connection_line_names() -> None:
    from strangler_proxy.gateway.edge import relayed_headers

    got = relayed_headers(
        [
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-One"),
            ("Connection", "X-Two"),
            ("X-One", "1"),
            ("X-Two", "2"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("X-Strangler-Route", "forged"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ]
    )
    assert list(got.items()) == [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def _publish(
    method: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> tuple[dict[str, str], bytes]:
    from types import SimpleNamespace

    from strangler_proxy.gateway.edge import publisher

    request = SimpleNamespace(
        method=method, secure=False, host="shop.example", headers=CIMultiDict()
    )
    runtime = SimpleNamespace(pool=SimpleNamespace(instances=[SimpleNamespace(url=BASES[0])]))
    spec = RewriteSpec(path=REPLACE)
    published, body = publisher(spec, runtime, request, False)(headers, body)  # stand-ins
    return dict(published), body


def test_publisher_gives_a_services_answer_as_the_client_would_get_it() -> None:
    page = json.dumps({"next": f"{BASES[0]}/catalog/v2/?page=2", "results": []}).encode()
    sent = (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(page))),
        ("Connection", "keep-alive"),
        ("Location", f"{BASES[0]}/catalog/v2/7/"),
    )
    headers, body = _publish("GET", sent, page)
    assert json.loads(body)["next"] == "http://shop.example/api/catalog/?page=2"
    assert headers["Location"] == "http://shop.example/api/catalog/7/"
    assert headers["Content-Length"] == str(len(body)) and "Connection" not in headers
    headers, body = _publish("HEAD", sent, b"")
    assert "Content-Length" not in headers  # the GET's body may differ in length, as relayed
