from __future__ import annotations

import json

import pytest

from strangler_proxy.shadow import CompareRules, ShadowResult, redact_result
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.shadow.redact import (
    NOT_SHOWN,
    REDACTED,
    redact_body,
    redact_headers,
    redact_target,
)

SECRETS = ("tok-SECRET1", "sess-SECRET2", "csrf-SECRET3", "form-SECRET4", "body-SECRET5")


def secret_result() -> ShadowResult:
    rules = CompareRules.from_config({"redact": ["$.token", "$..card.number"]})
    primary = json_side(
        {
            "token": "body-SECRET5",
            "card": {"number": "4111"},
            "csrfmiddlewaretoken": "form-SECRET4",
        },
        headers=(
            ("Content-Type", "application/json"),
            ("Set-Cookie", "csrftoken=csrf-SECRET3; expires=Thu, 01 Jan 2027 00:00:00 GMT; Path=/"),
        ),
    )
    shadow = json_side({"token": "other-SECRET5", "card": {"number": "4222"}})
    return make_result(
        primary,
        shadow,
        rules=rules,
        request_headers=(
            ("Authorization", "Token tok-SECRET1"),
            ("Cookie", "sessionid=sess-SECRET2; csrftoken=csrf-SECRET3"),
            ("X-CSRFToken", "csrf-SECRET3"),
            ("Accept", "application/json"),
        ),
    )


def test_headers_keep_names_never_values() -> None:
    got = dict(
        redact_headers(
            [
                ("Authorization", "Token x"),
                ("Proxy-Authorization", "Basic y"),
                ("Cookie", "sessionid=abc; csrftoken=def"),
                ("Set-Cookie", "csrftoken=def; Path=/; SameSite=Lax"),
                ("x-csrftoken", "def"),
                ("Accept", "*/*"),
            ]
        )
    )
    assert got == {
        "Authorization": REDACTED,
        "Proxy-Authorization": REDACTED,
        "Cookie": f"sessionid={REDACTED}; csrftoken={REDACTED}",
        "Set-Cookie": f"csrftoken={REDACTED}; Path=/; SameSite=Lax",
        "x-csrftoken": REDACTED,
        "Accept": "*/*",
    }


def test_bodies_json_paths_and_form_tokens() -> None:
    body = json.dumps({"a": {"csrftoken": "x"}, "token": "t", "keep": 1}).encode()
    assert json.loads(redact_body(body, ["$.token"])) == {
        "a": {"csrftoken": REDACTED},
        "token": REDACTED,
        "keep": 1,
    }
    html = b'<input type="hidden" name="csrfmiddlewaretoken" value="abc123"><p>ok</p>'
    assert redact_body(html) == (
        b'<input type="hidden" name="csrfmiddlewaretoken" value="[redacted]"><p>ok</p>'
    )
    form = b"csrfmiddlewaretoken=abc123&q=1"
    assert redact_body(form) == b"csrfmiddlewaretoken=[redacted]&q=1"


def test_a_result_keeps_no_secret_anywhere() -> None:
    result = secret_result()
    assert result.comparison.differences  # the token differs: its values must go too
    text = repr(redact_result(result))
    for secret in (*SECRETS, "4111", "4222", "other-SECRET5"):
        assert secret not in text
    assert "Accept" in text and "application/json" in text


@pytest.mark.parametrize(
    ("target", "stored"),
    [
        ("/api/x/", "/api/x/"),
        ("/api/x/?page=2", "/api/x/?page=2"),
        ("/api/x/?token=abc&page=2", "/api/x/?token=[redacted]&page=2"),
        ("/api/x/?Access-Token=abc", "/api/x/?Access-Token=[redacted]"),
        ("/api/x/?api%5Fkey=s3cret&q=a%20b", "/api/x/?api%5Fkey=[redacted]&q=a%20b"),
        ("/api/x/?password", "/api/x/?password"),  # no value to hide
        ("/api/x/?tokenizer=1", "/api/x/?tokenizer=1"),
    ],
)
def test_secret_query_parameters_are_redacted(target: str, stored: str) -> None:
    assert redact_target(target) == stored


def test_the_identity_assertion_is_never_stored() -> None:
    headers = (("X-Strangler-Identity", "eyJ.eyJ.sig"), ("X-Api-Key", "k"), ("Accept", "*/*"))
    assert redact_headers(headers) == (
        ("X-Strangler-Identity", "[redacted]"),
        ("X-Api-Key", "[redacted]"),
        ("Accept", "*/*"),
    )


@pytest.mark.parametrize(
    ("shadow_body", "shadow_type", "kind"),
    [
        # the service fails with an HTML page: one side is not JSON
        (b"<html><body>Server Error</body></html>", "text/html", "invalid_json"),
        # the same document, served as text: compared as text, not as JSON
        (b'{"api_key": "AKIA-SECRET-7", "price": "13.00"}', "text/plain", "body"),
    ],
)
def test_a_text_difference_shows_no_secret_the_bodies_hid(
    shadow_body: bytes, shadow_type: str, kind: str
) -> None:
    rules = CompareRules.from_config({"redact": ["$.api_key"]})
    text = (("Content-Type", "text/plain"),)
    primary = json_side(
        b'{"api_key": "AKIA-SECRET-7", "price": "12.00"}',
        headers=text if kind == "body" else (("Content-Type", "application/json"),),
    )
    shadow = json_side(shadow_body, status=200, headers=(("Content-Type", shadow_type),))
    result = make_result(primary, shadow, rules=rules)
    assert [d.kind for d in result.comparison.differences if d.path == "body"] == [kind]
    # the excerpt, taken from the raw bodies, shows (part of) the secret
    assert "CRET-7" in json.dumps([d.primary for d in result.comparison.differences])

    stored = redact_result(result)
    (diff,) = [d for d in stored.comparison.differences if d.path == "body"]
    assert "CRET-7" not in f"{diff.primary} {diff.shadow}"
    assert "AKIA-SECRET-7" not in repr(stored)
    # what the excerpt shows is still the difference, from the stored (redacted) bodies
    if kind == "invalid_json":
        assert str(diff.primary).startswith('{"api_key": "[redacted]"')
    else:
        assert "12.00" in str(diff.primary) and "13.00" in str(diff.shadow)


def test_elements_of_an_unordered_array_keep_no_secret() -> None:
    # two elements share a key (the difference holds both), one has no key at all
    rules = CompareRules.from_config(
        {"unordered": {"$.items": "id"}, "redact": ["$.items[*].secret"]}
    )
    primary = json_side(
        {
            "items": [
                {"id": 1, "secret": "S-ONE"},
                {"id": 1, "secret": "S-TWO"},
                {"secret": "S-THREE"},
            ]
        }
    )
    shadow = json_side({"items": []})
    result = make_result(primary, shadow, rules=rules)
    kinds = sorted(d.kind for d in result.comparison.differences)
    assert kinds == ["missing", "missing_key"]
    assert "S-TWO" in repr(result.comparison) and "S-THREE" in repr(result.comparison)
    text = repr(redact_result(result))
    for secret in ("S-ONE", "S-TWO", "S-THREE"):
        assert secret not in text


def test_bodies_that_differ_only_where_redaction_rewrites_them_show_no_excerpt() -> None:
    # a view that writes JSON as text: the same document in other spacing, and a secret next
    # to the difference; redaction writes both alike, so no excerpt of the originals is kept
    text = (("Content-Type", "text/html"),)
    primary = json_side(b'{"api_key": "AKIA-SECRET-8", "a": 1}', headers=text)
    shadow = json_side(b'{"api_key":"AKIA-SECRET-8","a":1}', headers=text)
    result = make_result(primary, shadow, rules=CompareRules.from_config({"redact": ["$.api_key"]}))
    assert [d.kind for d in result.comparison.differences] == ["body"]
    (diff,) = redact_result(result).comparison.differences
    assert diff.primary == diff.shadow == NOT_SHOWN
