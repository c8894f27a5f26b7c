"""The routing-table loader: a valid table round-trips, every broken one names its offender.

The problem strings are the contract ``strangler validate`` prints, so they are pinned exactly.
"""

# ruff: noqa: E501  (the pinned problem strings read best whole, one case per line)
from __future__ import annotations

import hashlib
import ipaddress
import textwrap
from pathlib import Path

import pytest

from strangler_proxy.config import check_path_template, load_table, parse_listen, parse_table
from strangler_proxy.errors import ConfigError
from strangler_proxy.model import (
    Balance,
    BreakerSettings,
    HeaderCondition,
    HealthSpec,
    Listen,
    MatchSpec,
    Mode,
    Outlier,
    ProxySettings,
    ShadowSpec,
    Sticky,
    StickyKind,
    Timeouts,
)

REPO = Path(__file__).resolve().parents[2]

FULL = """\
version: 1
listen: "[::1]:9080"
admin:
  listen: 127.0.0.1:9081
proxy:
  decision_headers: false
  trusted_proxies: [127.0.0.1/32, 10.1.2.3/8]
  max_body_bytes: 1048576
upstreams:
  legacy: http://127.0.0.1:8000/
  catalog:
    instances: [http://127.0.0.1:8101, HTTPS://Catalog.Internal:8102]
    health: /healthz
    timeouts: {connect: 2, response: 30.5, total: null}
  orders: [http://127.0.0.1:8201, http://127.0.0.1:8202]
default: legacy
routes:
  - name: product-detail
    match:
      path: /api/products/{id:int}/
      methods: [get, Head]
      headers: {X-Beta: "1", X-Canary: null, X-Any: "*"}
    mode: canary
    to: catalog
    weight: 25
    sticky: header:Authorization
    fallback: legacy
  - name: catalog
    match: {prefix: /api/catalog/}
    mode: extracted
    to: catalog
  - name: orders.v2
    match: {prefix: /api/orders/}
    mode: canary
    to: orders
    weight: 0
  - name: files
    match: {path: "/files/{rest:path}"}
    mode: legacy
    to: catalog
"""

# lines 1-6; the first route starts on line 7
HEAD = """\
version: 1
upstreams:
  legacy: http://127.0.0.1:8000
  catalog: http://127.0.0.1:8101
default: legacy
routes:
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_table(textwrap.dedent(text), "routing.yaml")
    return [str(p) for p in caught.value.problems]


# --- a valid table -------------------------------------------------------------------------------


def test_full_example_loads() -> None:
    table = parse_table(FULL, "routing.yaml")
    assert table.version == 1
    assert table.default == "legacy"
    assert table.source == "routing.yaml"
    assert table.settings == ProxySettings(
        listen=Listen("::1", 9080),
        admin_listen=Listen("127.0.0.1", 9081),
        decision_headers=frozenset(),
        trusted_proxies=(
            ipaddress.ip_network("127.0.0.1/32"),
            ipaddress.ip_network("10.0.0.0/8"),
        ),
        max_body_bytes=1048576,
    )
    catalog = table.upstream("catalog")
    assert catalog.instances == ("http://127.0.0.1:8101", "https://catalog.internal:8102")
    assert catalog.health == HealthSpec("/healthz")
    assert catalog.timeouts == Timeouts(connect=2.0, response=30.5, total=None)
    assert table.upstream("legacy").instances == ("http://127.0.0.1:8000",)
    assert table.upstream("orders").instances == ("http://127.0.0.1:8201", "http://127.0.0.1:8202")

    detail, extracted, orders, files = table.routes
    assert detail.name == "product-detail"
    assert detail.line == 18
    assert detail.match == MatchSpec(
        path="/api/products/{id:int}/",
        methods=frozenset({"GET", "HEAD"}),
        headers=(
            HeaderCondition("x-beta", "1"),
            HeaderCondition("x-canary", None),
            HeaderCondition("x-any", None),
        ),
    )
    assert (detail.mode, detail.to, detail.weight) == (Mode.CANARY, "catalog", 25)
    assert detail.sticky == Sticky(StickyKind.HEADER, "authorization")
    assert detail.fallback == "legacy"
    assert (extracted.mode, extracted.match.prefix, extracted.line) == (
        Mode.EXTRACTED,
        "/api/catalog/",
        28,
    )
    assert (orders.name, orders.weight, orders.sticky) == ("orders.v2", 0, Sticky())
    # `to` is allowed on a legacy route (ready for the next step) but not used
    assert (files.mode, files.to, files.match.path) == (Mode.LEGACY, None, "/files/{rest:path}")


def test_defaults_applied() -> None:
    table = parse_table(
        HEAD + "  - {name: r, match: {prefix: /}, mode: canary, to: catalog, weight: 1}\n"
    )
    assert table.settings == ProxySettings()
    assert table.source == "<memory>"
    assert table.upstream("catalog").timeouts == Timeouts()
    assert table.upstream("catalog").health is None
    (route,) = table.routes
    assert route.sticky == Sticky(StickyKind.IP, "")
    assert route.fallback is None
    assert route.match.methods == frozenset()
    assert route.match.headers == ()


def test_no_routes_is_pass_through() -> None:
    assert parse_table(HEAD).routes == ()
    assert parse_table(HEAD.replace("routes:\n", "")).routes == ()
    assert parse_table(HEAD.replace("routes:", "routes: []")).routes == ()


def test_empty_sections_are_absent() -> None:
    table = parse_table(
        "proxy:\nadmin:\n"
        + HEAD.replace("http://127.0.0.1:8101", "{instances: [http://h:1], timeouts: null}")
    )
    assert table.settings == ProxySettings()
    assert table.upstream("catalog").timeouts == Timeouts()


def test_sticky_cookie_keeps_case() -> None:
    text = (
        HEAD
        + "  - {name: r, match: {prefix: /}, mode: canary, to: catalog, weight: 5, sticky: cookie:sessionId}\n"
    )
    assert parse_table(text).routes[0].sticky == Sticky(StickyKind.COOKIE, "sessionId")


def test_sha256_of_raw_bytes(tmp_path: Path) -> None:
    raw = ("\ufeff# café\n" + FULL).encode("utf-8")
    path = tmp_path / "routing.yaml"
    path.write_bytes(raw)
    table = load_table(path)
    assert table.sha256 == hashlib.sha256(raw).hexdigest()
    assert table.source == str(path)
    assert parse_table(FULL).sha256 == hashlib.sha256(FULL.encode()).hexdigest()


def test_yaml_anchors_and_merge_keys() -> None:
    text = HEAD.replace(
        "  catalog: http://127.0.0.1:8101\n",
        "  catalog: &svc\n    instances: [http://127.0.0.1:8101]\n    timeouts: {connect: 1}\n"
        "  search:\n    <<: *svc\n    instances: [http://127.0.0.1:8301]\n",
    )
    search = parse_table(text).upstream("search")
    assert search.instances == ("http://127.0.0.1:8301",)
    assert search.timeouts == Timeouts(connect=1.0)


def test_repository_routing_yaml_loads() -> None:
    table = load_table(REPO / "routing.yaml")
    assert table.default == "legacy"
    assert {r.name for r in table.routes} >= {"product-list", "product-detail"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_table(tmp_path / "nope.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (0, "")
    assert str(problem) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_not_utf8() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_table(b"version: 1\nx: \xff\n", "routing.yaml")
    assert str(caught.value) == "routing.yaml: not UTF-8 text: invalid start byte"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("/api/products/{id}/", None),
        ("/api/{shop:slug}/products/{id:uuid}", None),
        ("/", None),
        ("/static/{rest:path}/", None),
        ("api/", "must start with '/', got 'api/'"),
        ("/a/{id", "unbalanced '{' or '}' in '/a/{id'"),
        ("/a/id}/", "unbalanced '{' or '}' in '/a/id}/'"),
        ("/a/{}/", "parameter name '' in {} is not an identifier"),
        ("/a/{1x}/", "parameter name '1x' in {1x} is not an identifier"),
        ("/a/{id:}/", "unknown converter '' in {id:} (expected int, path, slug, str, uuid)"),
        ("/a/{id}/{id}/", "parameter 'id' appears twice"),
        ("/a/{p:path}/b/", "{p:path} must be the last segment"),
        ("/a/?x=1", "must not contain '?' or '#' (the query string is not matched), got '/a/?x=1'"),
        ("/a b/", "must not contain whitespace, got '/a b/'"),
    ],
)
def test_check_path_template(template: str, problem: str | None) -> None:
    assert check_path_template(template) == problem


# --- the catalogue of broken tables ------------------------------------------------------------

R = "  - name: r\n    match: {path: /x/}\n"  # lines 7-8 of a route after HEAD

BROKEN = [
    pytest.param(
        "a: [1, 2\nb: 3\n",
        [
            "routing.yaml:2: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence on line 1)"
        ],
        id="yaml-unclosed-bracket",
    ),
    pytest.param(
        "version: 1\nupstreams:\n\tlegacy: http://127.0.0.1:8000\n",
        [
            "routing.yaml:3: invalid YAML: found character '\\t' that cannot start any token; YAML does not allow tabs for indentation"
        ],
        id="yaml-tab-indent",
    ),
    pytest.param(
        "",
        ["routing.yaml: the file is empty: expected version, upstreams and default"],
        id="empty-file",
    ),
    pytest.param(
        "# only a comment\n",
        ["routing.yaml: the file is empty: expected version, upstreams and default"],
        id="comment-only",
    ),
    pytest.param(
        "- version: 1\n",
        [
            "routing.yaml:1: the top level must be a mapping with version, upstreams and default, got a list"
        ],
        id="top-level-list",
    ),
    pytest.param(
        HEAD.replace("version: 1\n", ""),
        ["routing.yaml:1: version: is required (version: 1)"],
        id="missing-version",
    ),
    pytest.param(
        HEAD.replace("version: 1", "version: 2"),
        ["routing.yaml:1: version: must be 1, got 2"],
        id="wrong-version",
    ),
    pytest.param(
        HEAD.replace("version: 1", "version: true"),
        ["routing.yaml:1: version: must be 1, got true"],
        id="version-bool",
    ),
    pytest.param(
        "version: 1\ndefault: legacy\n",
        ["routing.yaml:1: upstreams: is required (a mapping of upstream names to URLs)"],
        id="missing-upstreams",
    ),
    pytest.param(
        "version: 1\nupstreams: {}\ndefault: legacy\n",
        [
            "routing.yaml:2: upstreams: must be a mapping of upstream names to URLs with at least one upstream, got an empty mapping"
        ],
        id="no-upstreams",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    weight: 120\n",
        ["routing.yaml:11: routes[0].weight: must be an integer 0..100, got 120"],
        id="weight-120",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    weight: abc\n",
        ["routing.yaml:11: routes[0].weight: must be an integer 0..100, got 'abc'"],
        id="weight-abc",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    weight: yes\n",
        ["routing.yaml:11: routes[0].weight: must be an integer 0..100, got true"],
        id="weight-bool",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n",
        ["routing.yaml:7: routes[0].weight: is required (the canary's share in percent, 0..100)"],
        id="weight-missing-on-canary",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catalog\n    weight: 50\n",
        ["routing.yaml:11: routes[0].weight: only applies to canary routes (this is extracted)"],
        id="weight-on-extracted",
    ),
    pytest.param(
        HEAD + R + "    mode: legacy\n    sticky: ip\n",
        ["routing.yaml:10: routes[0].sticky: only applies to canary routes (this is legacy)"],
        id="sticky-on-legacy",
    ),
    pytest.param(
        HEAD + R + "    mode: legacy\n    fallback: legacy\n",
        [
            "routing.yaml:10: routes[0].fallback: only applies to canary and extracted routes (this is legacy)"
        ],
        id="fallback-on-legacy",
    ),
    pytest.param(
        HEAD + R + "    mode: canery\n",
        [
            "routing.yaml:9: routes[0].mode: must be legacy, shadow, canary or extracted, got 'canery' (did you mean 'canary'?)"
        ],
        id="unknown-mode",
    ),
    pytest.param(
        HEAD + R + "    mode: shadow\n    to: legacy\n",
        [
            "routing.yaml:10: routes[0].to: must differ from default (legacy): shadow routes go elsewhere"
        ],
        id="shadow-to-default",
    ),
    pytest.param(
        HEAD + R + "    mode: shadow\n",
        ["routing.yaml:7: routes[0].to: is required (the upstream a shadow route sends to)"],
        id="shadow-missing-to",
    ),
    pytest.param(
        HEAD + R + "    mode: shadow\n    to: catalog\n    fallback: legacy\n",
        [
            "routing.yaml:11: routes[0].fallback: only applies to canary and extracted routes (this is shadow)"
        ],
        id="shadow-fallback",
    ),
    pytest.param(
        HEAD
        + R
        + "    mode: shadow\n    to: catalog\n    shadow: {sample: 2, timeout: 0, max_concurrency: 0,"
        " queue: -1, noise_sample: x, recheck_delay: -1}\n",
        [
            "routing.yaml:11: routes[0].shadow.sample: must be a share 0..1, got 2",
            "routing.yaml:11: routes[0].shadow.noise_sample: must be a share 0..1, got 'x'",
            "routing.yaml:11: routes[0].shadow.timeout: must be a positive number of seconds, got 0",
            "routing.yaml:11: routes[0].shadow.recheck_delay: must be a number of seconds >= 0, got -1",
            "routing.yaml:11: routes[0].shadow.max_concurrency: must be an integer >= 1, got 0",
            "routing.yaml:11: routes[0].shadow.queue: must be an integer >= 0, got -1",
        ],
        id="shadow-numbers",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catalog\n    shadow: {methods: [GET, POST]}\n",
        [
            "routing.yaml:11: routes[0].shadow.methods: writes are never copied to the monolith: only GET, HEAD, OPTIONS on an extracted route, got POST"
        ],
        id="reverse-shadow-writes",
    ),
    pytest.param(
        HEAD
        + R
        + "    mode: shadow\n    to: catalog\n    shadow:\n      compare: {tolerance: {$.price: cheap}}\n",
        [
            "routing.yaml:12: routes[0].shadow.compare.tolerance.$.price: must be a number >= 0 or a percentage like \"1%\", got 'cheap'"
        ],
        id="shadow-compare-rule",
    ),
    pytest.param(
        HEAD + R + "    mode: shadow\n    to: catalog\n    shadow: {samples: 1}\n",
        [
            "routing.yaml:11: routes[0].shadow.samples: unknown key 'samples' (did you mean 'sample'?)"
        ],
        id="shadow-unknown-key",
    ),
    pytest.param(
        "version: 1\nproxy: {shadow_store: 'mysql://x'}\nupstreams:\n  legacy: http://127.0.0.1:8000\ndefault: legacy\n",
        [
            "routing.yaml:2: proxy.shadow_store: must be a postgresql://... or sqlite:///path URL, got 'mysql://x'"
        ],
        id="shadow-store-url",
    ),
    pytest.param(
        HEAD + R,
        ["routing.yaml:7: routes[0].mode: is required (legacy, shadow, canary or extracted)"],
        id="missing-mode",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catlog\n",
        ["routing.yaml:10: routes[0].to: unknown upstream 'catlog' (known: catalog, legacy)"],
        id="unknown-to",
    ),
    pytest.param(
        HEAD.replace("default: legacy", "default: monolith"),
        ["routing.yaml:5: default: unknown upstream 'monolith' (known: catalog, legacy)"],
        id="unknown-default",
    ),
    pytest.param(
        HEAD.replace("default: legacy\n", ""),
        ["routing.yaml:1: default: is required (the upstream that serves unmatched requests)"],
        id="missing-default",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catalog\n    fallback: legcy\n",
        ["routing.yaml:11: routes[0].fallback: unknown upstream 'legcy' (known: catalog, legacy)"],
        id="unknown-fallback",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catalog\n    fallback: catalog\n",
        ["routing.yaml:11: routes[0].fallback: must differ from to (catalog)"],
        id="fallback-equals-to",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    weight: 5\n",
        ["routing.yaml:7: routes[0].to: is required (the upstream a canary route sends to)"],
        id="canary-without-to",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: legacy\n",
        [
            "routing.yaml:10: routes[0].to: must differ from default (legacy): extracted routes go elsewhere"
        ],
        id="to-is-default",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "127.0.0.1:8101"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: must start with http:// or https://, got '127.0.0.1:8101'"
        ],
        id="instance-no-scheme",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "http://127.0.0.1:8101/api"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: must be scheme://host:port without a path or query, got 'http://127.0.0.1:8101/api'"
        ],
        id="instance-with-path",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "http://127.0.0.1:8101?x=1"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: must be scheme://host:port without a path or query, got 'http://127.0.0.1:8101?x=1'"
        ],
        id="instance-with-query",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "ftp://127.0.0.1:21"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: must start with http:// or https://, got 'ftp://127.0.0.1:21'"
        ],
        id="instance-ftp",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "http://127.0.0.1:99999"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: has an invalid port: 'http://127.0.0.1:99999'"
        ],
        id="instance-bad-port",
    ),
    pytest.param(
        HEAD.replace("http://127.0.0.1:8101", "http://u:p@127.0.0.1:8101"),
        [
            "routing.yaml:4: upstreams.catalog.instances[0]: must not carry credentials, got 'http://u:p@127.0.0.1:8101'"
        ],
        id="instance-credentials",
    ),
    pytest.param(
        HEAD.replace(
            "  catalog: http://127.0.0.1:8101",
            "  catalog:\n    instances:\n      - http://127.0.0.1:8101\n      - http://127.0.0.1:8101/",
        ),
        [
            "routing.yaml:7: upstreams.catalog.instances[1]: duplicates upstreams.catalog.instances[0] (http://127.0.0.1:8101)"
        ],
        id="instance-duplicate",
    ),
    pytest.param(
        HEAD.replace("  catalog: http://127.0.0.1:8101", "  catalog: {instances: []}"),
        [
            "routing.yaml:4: upstreams.catalog.instances: must be a non-empty list of URLs, got a list"
        ],
        id="instances-empty",
    ),
    pytest.param(
        HEAD.replace("  catalog: http://127.0.0.1:8101", "  catalog: {health: /h}"),
        ["routing.yaml:4: upstreams.catalog.instances: is required (a list of base URLs)"],
        id="instances-missing",
    ),
    pytest.param(
        HEAD.replace(
            "  catalog: http://127.0.0.1:8101",
            "  catalog: {instances: [http://h:1], health: healthz}",
        ),
        [
            "routing.yaml:4: upstreams.catalog.health: must be a path starting with '/', got 'healthz'"
        ],
        id="health-no-slash",
    ),
    pytest.param(
        HEAD.replace(
            "  catalog: http://127.0.0.1:8101",
            "  catalog:\n    instances: [http://h:1]\n    timeouts: {connect: 0, total: -1}",
        ),
        [
            "routing.yaml:6: upstreams.catalog.timeouts.connect: must be a positive number of seconds, got 0",
            "routing.yaml:6: upstreams.catalog.timeouts.total: must be a positive number of seconds, got -1",
        ],
        id="timeouts-not-positive",
    ),
    pytest.param(
        HEAD.replace("  catalog: http://127.0.0.1:8101", "  Catalog: http://127.0.0.1:8101"),
        [
            "routing.yaml:4: upstreams.Catalog: upstream name must match [a-z0-9][a-z0-9._-]*, got 'Catalog'"
        ],
        id="upstream-bad-name",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: api/x/}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.path: must start with '/', got 'api/x/'"],
        id="path-no-leading-slash",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: '/x/{id/'}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.path: unbalanced '{' or '}' in '/x/{id/'"],
        id="path-unclosed-brace",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: '/x/{id:float}/'}\n    mode: legacy\n",
        [
            "routing.yaml:8: routes[0].match.path: unknown converter 'float' in {id:float} (expected int, path, slug, str, uuid)"
        ],
        id="path-bad-converter",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: '/x/{id}/{id:int}/'}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.path: parameter 'id' appears twice"],
        id="path-duplicate-param",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: '/x/{rest:path}/edit/'}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.path: {rest:path} must be the last segment"],
        id="path-converter-not-last",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {prefix: /api/catalog}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.prefix: must start and end with '/', got '/api/catalog'"],
        id="prefix-no-trailing-slash",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {prefix: /api/#/}\n    mode: legacy\n",
        [
            "routing.yaml:8: routes[0].match.prefix: must not contain '?' or '#' (the query string is not matched), got '/api/#/'"
        ],
        id="prefix-with-hash",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {path: /x/, prefix: /x/}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match: give either path or prefix, not both"],
        id="path-and-prefix",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {methods: [GET]}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match: needs a path or a prefix"],
        id="neither-path-nor-prefix",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {prefix: /, methods: [GE T]}\n    mode: legacy\n",
        [
            "routing.yaml:8: routes[0].match.methods[0]: must be an HTTP method such as GET, got 'GE T'"
        ],
        id="bad-method",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {prefix: /, methods: [GET, get]}\n    mode: legacy\n",
        ["routing.yaml:8: routes[0].match.methods[1]: duplicates routes[0].match.methods[0] (GET)"],
        id="duplicate-method",
    ),
    pytest.param(
        HEAD + "  - name: r\n    match: {prefix: /, methods: []}\n    mode: legacy\n",
        [
            "routing.yaml:8: routes[0].match.methods: must be a non-empty list such as [GET, HEAD] (omit it to match every method), got a list"
        ],
        id="empty-methods",
    ),
    pytest.param(
        HEAD
        + "  - name: r\n    match:\n      prefix: /\n      headers: {X-Beta: 1}\n    mode: legacy\n",
        [
            'routing.yaml:10: routes[0].match.headers.X-Beta: must be a string (quote numbers: "1"), "*" or null, got 1'
        ],
        id="header-value-number",
    ),
    pytest.param(
        HEAD
        + "  - name: r\n    match:\n      prefix: /\n      headers: {X-Beta: a, x-beta: b}\n    mode: legacy\n",
        [
            "routing.yaml:10: routes[0].match.headers.x-beta: duplicates header 'X-Beta' (names ignore case)"
        ],
        id="header-duplicate-case",
    ),
    pytest.param(
        HEAD
        + "  - {name: a, match: {prefix: /}, mode: legacy}\n  - {name: a, match: {prefix: /b/}, mode: legacy}\n",
        ["routing.yaml:8: routes[1].name: duplicate route name 'a' (first on line 7)"],
        id="duplicate-route-name",
    ),
    pytest.param(
        HEAD + "  - {name: Bad Name, match: {prefix: /}, mode: legacy}\n",
        ["routing.yaml:7: routes[0].name: must match [a-z0-9][a-z0-9._-]*, got 'Bad Name'"],
        id="bad-route-name",
    ),
    pytest.param(
        HEAD
        + "  - {name: a, match: {prefix: /, methods: [GET, HEAD]}, mode: legacy}\n  - name: b\n    match: {prefix: /, methods: [head, get]}\n    mode: legacy\n",
        ["routing.yaml:9: routes[1].match: duplicates the match of route 'a' (line 7)"],
        id="duplicate-match",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    wieght: 5\n",
        [
            "routing.yaml:7: routes[0].weight: is required (the canary's share in percent, 0..100)",
            "routing.yaml:11: routes[0].wieght: unknown key 'wieght' (did you mean 'weight'?)",
        ],
        id="unknown-key-suggestion",
    ),
    pytest.param(
        HEAD.replace("version: 1", "version: 1\nzzz: 1"),
        [
            "routing.yaml:2: zzz: unknown key 'zzz' (expected version, listen, admin, proxy, identity, upstreams, default, routes)"
        ],
        id="unknown-key-no-suggestion",
    ),
    pytest.param(
        HEAD + R + "    mode: legacy\n    shadow: {sample: 1.0}\n",
        [
            "routing.yaml:10: routes[0].shadow: only applies to shadow and extracted routes (this is legacy)"
        ],
        id="shadow-block-on-legacy",
    ),
    pytest.param(
        HEAD + R + "    mode: extracted\n    to: catalog\n    to: legacy\n",
        ["routing.yaml:11: routes[0].to: duplicate key 'to' (first on line 10)"],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        HEAD.replace("  catalog: http", "  legacy: http"),
        ["routing.yaml:4: upstreams.legacy: duplicate key 'legacy' (first on line 3)"],
        id="duplicate-upstream-key",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    weight: 5\n    sticky: 'header:'\n",
        [
            "routing.yaml:12: routes[0].sticky: needs a valid header name such as header:Authorization, got 'header:'"
        ],
        id="sticky-header-no-name",
    ),
    pytest.param(
        HEAD + R + "    mode: canary\n    to: catalog\n    weight: 5\n    sticky: bogus\n",
        ["routing.yaml:12: routes[0].sticky: must be header:NAME, cookie:NAME or ip, got 'bogus'"],
        id="sticky-bogus",
    ),
    pytest.param(
        "listen: localhost\n" + HEAD,
        ["routing.yaml:1: listen: must be host:port such as 127.0.0.1:8080, got 'localhost'"],
        id="listen-no-port",
    ),
    pytest.param(
        "listen: 127.0.0.1:80800\n" + HEAD,
        ["routing.yaml:1: listen: port must be 1..65535, got '127.0.0.1:80800'"],
        id="listen-bad-port",
    ),
    pytest.param(
        "listen: '::1:8080'\n" + HEAD,
        [
            "routing.yaml:1: listen: write an IPv6 address in brackets, e.g. [::1]:8080, got '::1:8080'"
        ],
        id="listen-ipv6-no-brackets",
    ),
    pytest.param(
        "listen: 127.0.0.1:9000\nadmin: {listen: 127.0.0.1:9000}\n" + HEAD,
        [
            "routing.yaml:2: admin.listen: the admin address 127.0.0.1:9000 must differ from listen (127.0.0.1:9000)"
        ],
        id="admin-equals-listen",
    ),
    pytest.param(
        "listen: 0.0.0.0:8081\n" + HEAD,
        [
            "routing.yaml:1: listen: the admin address 127.0.0.1:8081 must differ from listen (0.0.0.0:8081)"
        ],
        id="listen-hits-default-admin",
    ),
    pytest.param(
        "proxy:\n  trusted_proxies: [10.0.0.0/33, 10.0.0.1]\n" + HEAD,
        [
            "routing.yaml:2: proxy.trusted_proxies[0]: must be an address or CIDR such as 10.0.0.0/8, got '10.0.0.0/33'"
        ],
        id="bad-trusted-proxy",
    ),
    pytest.param(
        "proxy:\n  decision_headers: 'no'\n  max_body_bytes: 0\n" + HEAD,
        [
            "routing.yaml:2: proxy.decision_headers: must be true, false or a list such as [route], "
            "got 'no'",
            "routing.yaml:3: proxy.max_body_bytes: must be an integer >= 1, got 0",
        ],
        id="bad-proxy-options",
    ),
    pytest.param(
        """\
        version: 3
        upstreams:
          legacy: http://127.0.0.1:8000
          catalog: {instances: [http://127.0.0.1:8101/v1]}
        default: legacy
        routes:
          - name: a
            match:
              path: /api/products/{id:float}/
            mode: canary
            to: catalog
            weight: 120
          - name: a
            match: {prefix: /api}
            mode: extracted
            to: nowhere
        """,
        [
            "routing.yaml:1: version: must be 1, got 3",
            "routing.yaml:4: upstreams.catalog.instances[0]: must be scheme://host:port without a path or query, got 'http://127.0.0.1:8101/v1'",
            "routing.yaml:9: routes[0].match.path: unknown converter 'float' in {id:float} (expected int, path, slug, str, uuid)",
            "routing.yaml:12: routes[0].weight: must be an integer 0..100, got 120",
            "routing.yaml:13: routes[1].name: duplicate route name 'a' (first on line 7)",
            "routing.yaml:14: routes[1].match.prefix: must start and end with '/', got '/api'",
            "routing.yaml:16: routes[1].to: unknown upstream 'nowhere' (known: catalog, legacy)",
        ],
        id="many-problems-in-line-order",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_table(text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


def test_unquoted_braces_in_flow_mapping_are_a_yaml_error() -> None:
    # `{path: /a/{id}/}` is YAML's flow syntax, not a template: the reference says to quote it
    assert problems_of(HEAD + "  - {name: a, match: {path: /a/{id}/}, mode: legacy}\n") == [
        "routing.yaml:7: invalid YAML: expected ',' or '}', but got '{'"
        " (while parsing a flow mapping on line 7)"
    ]


def test_config_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_table("version: 2\nupstreams: 5\n", "routing.yaml")
    assert str(caught.value).splitlines() == [
        "routing.yaml:1: version: must be 1, got 2",
        "routing.yaml:1: default: is required (the upstream that serves unmatched requests)",
        "routing.yaml:2: upstreams: must be a mapping of upstream names to URLs"
        " with at least one upstream, got 5",
    ]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:8080", Listen("127.0.0.1", 8080)),
        ("[::1]:8080", Listen("::1", 8080)),
        ("0.0.0.0:80", Listen("0.0.0.0", 80)),
        ("proxy.local:8080", Listen("proxy.local", 8080)),
        ("localhost", "must be host:port such as 127.0.0.1:8080"),
        (":8080", "must be host:port such as 127.0.0.1:8080"),
        ("127.0.0.1:0", "port must be 1..65535"),
        ("999.1.1.1:80", "invalid IPv4 address '999.1.1.1'"),
        ("[nope]:80", "invalid IPv6 address 'nope'"),
        ("a b:80", "invalid host name 'a b'"),
    ],
)
def test_parse_listen(text: str, parsed: Listen | str) -> None:
    assert parse_listen(text) == parsed


# --- resilience settings of an upstream ---------------------------------------------------------

UP = "version: 1\nupstreams:\n  legacy: http://127.0.0.1:8000\n  catalog:\n"
UP += "    instances: [http://127.0.0.1:8101]\n"


def test_resilience_settings_load_with_defaults() -> None:
    text = UP + (
        "    balance: least_outstanding\n"
        "    health: {path: /healthz, interval: 1, unhealthy_threshold: 3}\n"
        "    outlier: {consecutive_failures: 5}\n"
        "    breaker: {failure_rate: 25, open_for: 10}\n"
        "    max_concurrent: 100\n"
        "default: legacy\n"
    )
    up = parse_table(text).upstream("catalog")
    assert up.balance is Balance.LEAST_OUTSTANDING
    assert up.health == HealthSpec("/healthz", interval=1.0, unhealthy_threshold=3)
    assert up.outlier == Outlier(consecutive_failures=5)
    assert up.breaker == BreakerSettings(failure_rate=25.0, open_for=10.0)
    assert up.max_concurrent == 100
    legacy = parse_table(text).upstream("legacy")
    assert (legacy.balance, legacy.outlier, legacy.breaker) == (
        Balance.ROUND_ROBIN,
        Outlier(3, 30.0, 300.0, 50),
        BreakerSettings(50.0, 20, 10, 30.0, 3),
    )
    assert legacy.health is None and legacy.max_concurrent is None


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "    balance: random\n",
            [
                "routing.yaml:6: upstreams.catalog.balance: must be round_robin or "
                "least_outstanding, got 'random'"
            ],
        ),
        (
            "    outlier: {consecutive_failures: 0, max_ejected_percent: 101}\n",
            [
                "routing.yaml:6: upstreams.catalog.outlier.consecutive_failures: must be an "
                "integer >= 1, got 0",
                "routing.yaml:6: upstreams.catalog.outlier.max_ejected_percent: must be an "
                "integer 0..100, got 101",
            ],
        ),
        (
            "    breaker: {failure_rate: 150, windw: 3}\n",
            [
                "routing.yaml:6: upstreams.catalog.breaker.windw: unknown key 'windw' "
                "(did you mean 'window'?)",
                "routing.yaml:6: upstreams.catalog.breaker.failure_rate: must be a number "
                "0..100, got 150",
            ],
        ),
        (
            "    health: {interval: 5}\n",
            [
                "routing.yaml:6: upstreams.catalog.health.path: is required (the path to ask, "
                "/healthz)"
            ],
        ),
        (
            "    health: {path: /h, interval: 0, healthy_threshold: 0}\n",
            [
                "routing.yaml:6: upstreams.catalog.health.interval: must be a positive number "
                "of seconds, got 0",
                "routing.yaml:6: upstreams.catalog.health.healthy_threshold: must be an integer "
                ">= 1, got 0",
            ],
        ),
        (
            "    health: 5\n",
            [
                "routing.yaml:6: upstreams.catalog.health: must be a path such as /healthz, or a "
                "mapping with path, interval, timeout, thresholds, got 5"
            ],
        ),
        (
            "    max_concurrent: 0\n",
            ["routing.yaml:6: upstreams.catalog.max_concurrent: must be an integer >= 1, got 0"],
        ),
    ],
    ids=[
        "balance",
        "outlier",
        "breaker",
        "health-path",
        "health-numbers",
        "health-type",
        "max-concurrent",
    ],
)
def test_broken_resilience_settings(lines: str, expected: list[str]) -> None:
    assert problems_of(UP + lines + "default: legacy\n") == expected


def test_shadow_route_loads_with_rules_and_defaults() -> None:
    text = (
        HEAD
        + R
        + (
            "    mode: shadow\n    to: catalog\n    shadow:\n      sample: 0.5\n"
            "      sticky: header:Authorization\n      methods: [GET, POST]\n"
            "      compare:\n        ignore: [$.updated_at]\n        unordered: {$.results: id}\n"
        )
    )
    (route,) = parse_table(text).routes
    assert route.mode is Mode.SHADOW and route.to == "catalog"
    spec = route.shadow
    assert spec is not None
    assert spec.sample == 0.5 and spec.methods == {"GET", "POST"}
    assert spec.sticky == Sticky(StickyKind.HEADER, "authorization")
    assert spec.compare.ignore == ("$.updated_at",) and spec.compare.unordered == {
        "$.results": "id"
    }
    assert (spec.timeout, spec.max_concurrency, spec.queue) == (5.0, 16, 64)
    # shadow mode needs no block: the defaults apply
    (plain,) = parse_table(HEAD + R + "    mode: shadow\n    to: catalog\n").routes
    assert plain.shadow == ShadowSpec()
    # an extracted route without a block has no reverse shadow
    (cut,) = parse_table(HEAD + R + "    mode: extracted\n    to: catalog\n").routes
    assert cut.shadow is None
