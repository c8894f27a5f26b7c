"""YAML with line numbers, and a reader that collects every problem instead of stopping.

:func:`compose` turns YAML text into plain Python values (dicts, lists, scalars as PyYAML's
``SafeLoader`` builds them) plus a map from each key path to its 1-based line::

    >>> doc = compose("routes:\\n  - name: a\\n    weight: 5\\n")
    >>> doc.value
    {'routes': [{'name': 'a', 'weight': 5}]}
    >>> doc.lines["routes[0].weight"]
    3

Unlike ``yaml.safe_load`` it reports duplicate mapping keys (PyYAML silently keeps the last)
and refuses non-scalar keys. Mapping keys are taken as written (``on:`` is the string ``"on"``,
not ``True``). Merge keys (``<<: *defaults``) are applied; explicit keys win.

:class:`Reader` is the base of the schema checker in :mod:`strangler_proxy.config`: typed
getters that record a :class:`~strangler_proxy.errors.Problem` and return ``None`` on a
mismatch, so validation goes on and reports everything at once.

The last part checks the syntax of single values (path templates, prefixes, upstream URLs,
listen addresses); each returns why a value is wrong, or ``None``, and knows nothing of YAML.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Problem
from .model import Listen

__all__ = [
    "CONVERTERS",
    "TOKEN",
    "Document",
    "Reader",
    "YamlSyntaxError",
    "check_path_template",
    "check_prefix",
    "child",
    "compose",
    "parse_listen",
    "show",
    "url_problem",
]

TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: methods, header names
CONVERTERS = ("int", "path", "slug", "str", "uuid")  # Django's path converters
_PARAM = re.compile(r"\{([^{}]*)\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PARENT = re.compile(r"(\.[^.\[]*|\[\d+\])$")


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` is 1-based (0 if the parser gave no position)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(slots=True)
class Document:
    """``value`` is ``None`` for an empty document; ``issues`` are (line, key, message)."""

    value: object
    lines: dict[str, int] = field(default_factory=dict)
    issues: list[tuple[int, str, str]] = field(default_factory=list)

    def line(self, path: str) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 for the root)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _PARENT.sub("", path)
        return self.lines.get("", 1)


def child(path: str, key: str | int) -> str:
    """``child("routes", 2)`` → ``routes[2]``; ``child("routes[2]", "to")`` → ``routes[2].to``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def show(value: object) -> str:
    """A value as messages quote it: ``'abc'``, ``120``, ``true``, ``null``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if isinstance(value, str | int | float) else repr(str(value))


def compose(text: str) -> Document:
    """Parse one YAML document; raise :class:`YamlSyntaxError` if it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = Document(None)
        if node is not None:
            doc.value = _Converter(loader, doc).convert(node, "")
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or str(exc)
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        if "\\t" in message or "\t" in message:
            message += "; YAML does not allow tabs for indentation"
        raise YamlSyntaxError(mark.line + 1 if mark else 0, f"invalid YAML: {message}") from exc
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise YamlSyntaxError(0, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.active: set[int] = set()  # collection nodes being converted (alias cycles)

    def convert(self, node: Node, path: str) -> object:
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node)
        if id(node) in self.active:
            self.doc.issues.append((node.start_mark.line + 1, path, "recursive alias"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.convert(item, child(path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, path: str) -> dict[str, object]:
        result: dict[str, object] = {}
        first: dict[str, int] = {}
        for key_node, value_node, merged in self._pairs(node, path):
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.doc.issues.append((line, path, "mapping keys must be plain strings"))
                continue
            key = str(key_node.value)
            if key in first:
                if not merged:
                    message = f"duplicate key '{key}' (first on line {first[key]})"
                    self.doc.issues.append((line, child(path, key), message))
                continue
            first[key] = line
            self.doc.lines[child(path, key)] = line
            result[key] = self.convert(value_node, child(path, key))
        return result

    def _pairs(self, node: MappingNode, path: str) -> list[tuple[Node, Node, bool]]:
        """Explicit pairs first, then those brought in by ``<<`` merge keys."""
        explicit: list[tuple[Node, Node, bool]] = []
        merged: list[tuple[Node, Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node, False))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode) or id(source) in self.active:
                    line = source.start_mark.line + 1
                    self.doc.issues.append((line, path, "'<<' must merge mappings"))
                    continue
                self.active.add(id(source))
                try:
                    merged += [(k, v, True) for k, v, _ in self._pairs(source, path)]
                finally:
                    self.active.discard(id(source))
        return explicit + merged


class Reader:
    """Typed access to a :class:`Document` that records problems instead of raising."""

    def __init__(self, source: str, doc: Document) -> None:
        self.source = source
        self.doc = doc
        self.problems = [Problem(source, line, key, msg) for line, key, msg in doc.issues]

    def problem(self, path: str, message: str, line: int | None = None) -> None:
        self.problems.append(
            Problem(self.source, self.doc.line(path) if line is None else line, path, message)
        )

    def mapping(
        self,
        value: object,
        path: str,
        allowed: Iterable[str],
        what: str = "a mapping",
        notes: Mapping[str, str] | None = None,
    ) -> dict[str, object] | None:
        """``value`` as a mapping whose keys are all in ``allowed``; unknown ones are reported
        with the closest allowed key, or with ``notes[key]`` for keys known to be missing."""
        if not isinstance(value, dict):
            self.problem(path, f"must be {what}, got {show(value)}")
            return None
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "expected " + ", ".join(allowed)
                hint = (notes or {}).get(key, hint)
                self.problem(child(path, key), f"unknown key '{key}' ({hint})")
        return {k: v for k, v in value.items() if k in allowed}

    def required(self, mapping: Mapping[str, object], key: str, path: str, hint: str) -> bool:
        """Report ``key`` missing from ``mapping`` (on the mapping's line); True if present."""
        if key in mapping:
            return True
        self.problem(child(path, key), f"is required ({hint})", line=self.doc.line(path))
        return False

    def string(self, value: object, path: str, what: str = "a string") -> str | None:
        if isinstance(value, str) and value:
            return value
        self.problem(path, f"must be {what}, got {show(value)}")
        return None

    def numbers(
        self, spec: Mapping[str, object], path: str, fields: Sequence[Field]
    ) -> dict[str, int | float]:
        """The numeric ``fields`` present in ``spec``, each checked against its range."""
        found: dict[str, int | float] = {}
        for f in fields:
            if f.key not in spec:
                continue
            given = spec[f.key]
            if f.integer:
                number = self.integer(given, child(path, f.key), int(f.low), _int_or_none(f.high))
                if number is not None:
                    found[f.key] = number
                continue
            ok = isinstance(given, int | float) and not isinstance(given, bool)
            if ok:
                low_ok = given > f.low if f.above else given >= f.low  # type: ignore[operator]
                ok = low_ok and (f.high is None or given <= f.high)  # type: ignore[operator]
            if ok:
                found[f.key] = float(given)  # type: ignore[arg-type]
            else:
                self.problem(child(path, f.key), f"must be {f.what}, got {show(given)}")
        return found

    def integer(self, value: object, path: str, low: int, high: int | None) -> int | None:
        """An int in ``low..high`` (``high=None``: no upper bound); booleans are refused."""
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and value >= low and (high is None or value <= high):  # type: ignore[operator]
            return value  # type: ignore[return-value]
        what = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"
        self.problem(path, f"must be {what}, got {show(value)}")
        return None


@dataclass(frozen=True, slots=True)
class Field:
    """A numeric setting: ``Field("timeout", "a positive number of seconds", above=True)``."""

    key: str
    what: str  # "must be {what}, got ..."
    low: float = 0.0
    high: float | None = None
    above: bool = False  # low is exclusive
    integer: bool = False


def seconds(key: str, *, zero: bool = False) -> Field:
    if zero:
        return Field(key, "a number of seconds >= 0")
    return Field(key, "a positive number of seconds", above=True)


def count(key: str, low: int = 1, high: int | None = None) -> Field:
    return Field(key, "", low, high, integer=True)


def share(key: str, high: float = 1.0) -> Field:
    scale = "0..1" if high == 1.0 else f"0..{high:g}"
    return Field(key, f"a number {scale}", 0.0, high)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


# --- the syntax of the values a table holds: str → reason it is wrong, or None -----------------


def check_path_template(template: str) -> str | None:
    """Why ``template`` is not a valid path template, or ``None`` if it is.

    ``"/api/products/{id:int}/"`` → ``None``; ``"/a/{x:float}"`` → ``"unknown converter ..."``.
    """
    if not template.startswith("/"):
        return f"must start with '/', got {template!r}"
    if problem := check_literal(template):
        return problem
    seen: set[str] = set()
    for found in _PARAM.finditer(template):
        name, _, converter = found.group(1).partition(":")
        if not name.isidentifier():
            return f"parameter name {name!r} in {found.group(0)} is not an identifier"
        if name in seen:
            return f"parameter '{name}' appears twice"
        seen.add(name)
        if found.group(1).count(":") and converter not in CONVERTERS:
            known = ", ".join(CONVERTERS)
            return f"unknown converter {converter!r} in {found.group(0)} (expected {known})"
        if converter == "path" and template[found.end() :] not in ("", "/"):
            return f"{found.group(0)} must be the last segment"
    if "{" in _PARAM.sub("", template) or "}" in _PARAM.sub("", template):
        return f"unbalanced '{{' or '}}' in {template!r}"
    return None


def check_prefix(prefix: str) -> str | None:
    if not (prefix.startswith("/") and prefix.endswith("/")):
        return f"must start and end with '/', got {prefix!r}"
    if "{" in prefix or "}" in prefix:
        return f"is matched literally: use path for {{parameters}}, got {prefix!r}"
    return check_literal(prefix)


def check_literal(text: str) -> str | None:
    if "?" in text or "#" in text:
        return f"must not contain '?' or '#' (the query string is not matched), got {text!r}"
    if any(c.isspace() for c in text):
        return f"must not contain whitespace, got {text!r}"
    return None


def parse_listen(text: str) -> Listen | str:
    """``"[::1]:8080"`` → ``Listen("::1", 8080)``; ``"localhost"`` → the reason it is not
    host:port (``"must be host:port such as 127.0.0.1:8080"``)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        return "must be host:port such as 127.0.0.1:8080"
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        return "port must be 1..65535"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"invalid IPv6 address {host!r}"
    elif ":" in host:
        return "write an IPv6 address in brackets, e.g. [::1]:8080"
    elif re.fullmatch(r"[\d.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"invalid IPv4 address {host!r}"
    elif not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*", host):
        return f"invalid host name {host!r}"
    return Listen(host, int(port_text))


def url_problem(url: str) -> str | None:
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest:
        return f"must start with http:// or https://, got {url!r}"
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"must be scheme://host:port without a path or query, got {url!r}"
    if parts.username is not None or parts.password is not None:
        return f"must not carry credentials, got {url!r}"
    if not parts.hostname:
        return f"has no host: {url!r}"
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"has an invalid port: {url!r}"
    return None
