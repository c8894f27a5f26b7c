"""Print a Django project's URL configuration as JSON, one entry per endpoint.

Run as a *script* in a subprocess with the project's settings (``strangler inventory`` does
this), never imported by the proxy: it needs only Django, so it also runs in the project's own
virtualenv::

    DJANGO_SETTINGS_MODULE=legacy_monolith.settings python _django_dump.py
    → [{"pattern": "api/products/<int:pk>/", "regex": "^api/products/(?P<pk>[0-9]+)/\\Z",
        "sample": "/api/products/1/", "resolves": true, "view": "...ProductViewSet",
        "name": "product-detail", "methods": ["DELETE", "GET", "HEAD", "PATCH", "PUT"]}, ...]

``methods`` is ``null`` when the view does not declare them (plain Django function views).
DRF's format-suffix variants (``products.json``) are folded into their endpoint.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

# a value tried for each URL parameter, in order; the first its regex accepts is used
CANDIDATES = ("1", "x", "slug-1", "00000000-0000-0000-0000-000000000001", "a/b", "ABC", "0.1")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


def _close(text: str, start: int) -> int:
    """Index of the ``)`` closing the group opened at ``text[start]``."""
    depth = 0
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced group in {text!r}")


def sample_path(regex: str) -> str:
    """A path the regular expression accepts: ``^products/(?P<pk>[^/.]+)/$`` → ``/products/1/``.

    Parameters take the first of :data:`CANDIDATES` their own pattern accepts; escapes are
    unescaped, anchors and ``?`` quantifiers dropped (the optional character is kept).
    """
    out: list[str] = []
    i = 0
    while i < len(regex):
        found = _GROUP.match(regex, i)
        if found is not None:
            end = _close(regex, i)
            body = regex[found.end() : end]
            choices = (
                (*CANDIDATES, body.split("|")[0]) if re.fullmatch(r"[\w|]+", body) else CANDIDATES
            )
            out.append(next((c for c in choices if re.fullmatch(body, c)), "x"))
            i = end + 1
        elif regex.startswith("\\Z", i) or regex.startswith("\\A", i):
            i += 2
        elif regex[i] == "\\":
            out.append(regex[i + 1 : i + 2])
            i += 2
        elif regex[i] in "^$?":
            i += 1
        else:
            out.append(regex[i])
            i += 1
    return "/" + "".join(out)


def _methods(callback: Any) -> list[str] | None:
    actions = getattr(callback, "actions", None)  # DRF viewsets: {"get": "list", ...}
    if isinstance(actions, dict) and actions:
        found = {m.upper() for m in actions}
    else:
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if cls is None:
            return None
        names = getattr(cls, "http_method_names", ())
        found = {m.upper() for m in names if m != "options" and hasattr(cls, m)}
    if "GET" in found:
        found.add("HEAD")
    return sorted(found)


def _view_name(callback: Any) -> str:
    target = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)}"


def _display(pattern: Any) -> str:
    """``^products/(?P<pk>[^/.]+)/$`` → ``products/<pk>/``; route patterns stay as written."""
    text = str(pattern)
    if type(pattern).__name__ != "RegexPattern":
        return text
    text = text.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    out, i = [], 0
    while (found := _GROUP.search(text, i)) is not None:
        out.append(text[i : found.start()] + f"<{found.group('name')}>")
        i = _close(text, found.start()) + 1
    return "".join(out) + text[i:]


def walk(patterns: Any, prefix: str = "", regex: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in patterns:
        part = p.pattern.regex.pattern.removeprefix("^")
        if hasattr(p, "url_patterns"):  # an include()
            out += walk(p.url_patterns, prefix + _display(p.pattern), regex + part)
            continue
        full = "^" + regex + part
        if "(?P<format>" in full:  # DRF format_suffix_patterns: same endpoint, other renderer
            continue
        out.append(
            {
                "pattern": prefix + _display(p.pattern),
                "regex": full,
                "callback": p.callback,
                "name": p.name,
            }
        )
    return out


def main() -> int:
    import django  # type: ignore[import-untyped]
    from django.urls import Resolver404, get_resolver, resolve  # type: ignore[import-untyped]

    django.setup()
    rows = []
    for entry in walk(get_resolver().url_patterns):
        sample = sample_path(entry["regex"])
        try:
            resolves = resolve(sample).func is entry["callback"]
        except Resolver404:
            resolves = False
        rows.append(
            {
                "pattern": entry["pattern"],
                "regex": entry["regex"],
                "sample": sample,
                "resolves": resolves,
                "view": _view_name(entry["callback"]),
                "name": entry["name"],
                "methods": _methods(entry["callback"]),
            }
        )
    json.dump(rows, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
