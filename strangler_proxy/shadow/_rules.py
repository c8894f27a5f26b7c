"""Per-route comparison rules, validated once from the route's ``shadow.compare`` mapping.

    >>> rules = CompareRules.from_config({
    ...     "ignore": ["$..updated_at"], "tolerance": {"$.price": 0.005, "$.total": "1%"},
    ...     "unordered": {"$.results": "id"}, "matchers": {"$.id": "uuid"}})
    >>> rules.tolerance["$.total"]
    Tolerance(absolute=None, relative=Decimal('0.01'))
    >>> CompareRules.from_config({"tolerance": {"$.price": "cheap"}})
    Traceback (most recent call last):
    ValueError: tolerance.$.price: must be a number >= 0 or a percentage like "1%", got 'cheap'

When several patterns match one path, the first one given wins.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .._hop import HOP_BY_HOP
from ._paths import Pattern, Segment, compile_pattern

__all__ = ["NEVER_COMPARED", "CompareRules", "Matcher", "Tolerance", "as_decimal"]

# differ on every response by nature: comparing them would only produce noise
NEVER_COMPARED = frozenset({"date", "server"})
_KEYS = ("headers", "ignore", "tolerance", "unordered", "matchers", "redact")


def as_decimal(value: object) -> Decimal | None:
    """A JSON number or a decimal string (DRF's ``"12.50"``) as a Decimal; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


@dataclass(frozen=True, slots=True)
class Tolerance:
    """``absolute``: ``|a - b| <= absolute``;
    ``relative``: ``|a - b| <= relative * max(|a|, |b|)``."""

    absolute: Decimal | None = None
    relative: Decimal | None = None

    @classmethod
    def parse(cls, value: object) -> Tolerance:
        if isinstance(value, str) and value.strip().endswith("%"):
            number = as_decimal(value.strip()[:-1])
            if number is not None and number >= 0:
                return cls(relative=number / 100)
        elif not isinstance(value, bool):
            number = as_decimal(value)
            if number is not None and number >= 0:
                return cls(absolute=number)
        raise ValueError(f'must be a number >= 0 or a percentage like "1%", got {value!r}')

    def within(self, a: Decimal, b: Decimal) -> bool:
        delta = abs(a - b)
        if self.absolute is not None and delta <= self.absolute:
            return True
        return self.relative is not None and delta <= self.relative * max(abs(a), abs(b))


_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


@dataclass(frozen=True, slots=True)
class Matcher:
    """Both sides only need to satisfy the matcher: ``uuid``, ``timestamp`` (ISO 8601),
    ``regex:<pattern>`` (``re.fullmatch`` on strings, numbers as their JSON text), ``any``
    (present, any value)."""

    spec: str
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, spec: object) -> Matcher:
        if not isinstance(spec, str):
            raise ValueError(f"must be uuid, timestamp, any or regex:<pattern>, got {spec!r}")
        if spec in ("uuid", "timestamp", "any"):
            return cls(spec)
        if spec.startswith("regex:"):
            try:
                return cls(spec, re.compile(spec[6:]))
            except re.error as err:
                raise ValueError(f"bad regular expression {spec[6:]!r}: {err}") from None
        raise ValueError(f"must be uuid, timestamp, any or regex:<pattern>, got {spec!r}")

    def accepts(self, value: object) -> bool:
        if self.spec == "any":
            return True
        if self.regex is not None:
            if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
                value = str(value)
            return isinstance(value, str) and self.regex.fullmatch(value) is not None
        if not isinstance(value, str):
            return False
        if self.spec == "uuid":
            return _UUID.fullmatch(value) is not None and bool(uuid.UUID(value))
        try:
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return False
        return True


def _mapping(key: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{key}: must be a mapping of JSON path to value, got {value!r}")
    return value


def _strings(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{key}: must be a list of strings, got {value!r}")
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: must be a list of strings, got {value!r}")
    return tuple(value)


def _compile(key: str, path: str) -> Pattern:
    try:
        return compile_pattern(path)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


@dataclass(frozen=True, slots=True)
class CompareRules:
    """How one route's responses are compared (see the package docstring for the defaults).

    ``headers`` are compared case-insensitively by name; ``date`` and ``server`` are refused.
    ``redact`` JSON paths are blanked before anything is stored (the CSRF ones always are).
    """

    headers: tuple[str, ...] = ("content-type",)
    ignore: tuple[str, ...] = ()
    tolerance: Mapping[str, Tolerance] = field(default_factory=dict)
    unordered: Mapping[str, str] = field(default_factory=dict)
    matchers: Mapping[str, Matcher] = field(default_factory=dict)
    redact: tuple[str, ...] = ()
    _ignore: tuple[Pattern, ...] = field(init=False, repr=False, compare=False)
    _tolerance: tuple[tuple[Pattern, Tolerance], ...] = field(init=False, repr=False, compare=False)
    _unordered: tuple[tuple[Pattern, str], ...] = field(init=False, repr=False, compare=False)
    _matchers: tuple[tuple[Pattern, Matcher], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lowered = tuple(h.lower() for h in self.headers)
        for name in lowered:
            if name in NEVER_COMPARED:
                raise ValueError(f"headers: {name!r} differs on every response; never compared")
            if name in HOP_BY_HOP:  # how one connection carried it, not what it says
                raise ValueError(
                    f"headers: {name!r} describes one connection, not the answer; never compared"
                )
        setattr_ = object.__setattr__
        setattr_(self, "headers", lowered)
        setattr_(self, "_ignore", tuple(_compile(f"ignore.{p}", p) for p in self.ignore))
        setattr_(
            self,
            "_tolerance",
            tuple((_compile(f"tolerance.{p}", p), t) for p, t in self.tolerance.items()),
        )
        setattr_(
            self,
            "_unordered",
            tuple((_compile(f"unordered.{p}", p), k) for p, k in self.unordered.items()),
        )
        setattr_(
            self,
            "_matchers",
            tuple((_compile(f"matchers.{p}", p), m) for p, m in self.matchers.items()),
        )
        for p in self.redact:
            _compile(f"redact.{p}", p)

    @classmethod
    def from_config(cls, data: Mapping[str, object]) -> CompareRules:
        """Build from a route's ``shadow.compare`` mapping; ``ValueError("key: message")``."""
        for key in data:
            if key not in _KEYS:
                raise ValueError(f"{key}: unknown key (expected one of {', '.join(_KEYS)})")
        kwargs: dict[str, object] = {}
        for key in ("headers", "ignore", "redact"):
            if key in data:
                kwargs[key] = _strings(key, data[key])
        tolerance: dict[str, Tolerance] = {}
        for path, value in _mapping("tolerance", data.get("tolerance", {})).items():
            try:
                tolerance[path] = Tolerance.parse(value)
            except ValueError as err:
                raise ValueError(f"tolerance.{path}: {err}") from None
        unordered: dict[str, str] = {}
        for path, value in _mapping("unordered", data.get("unordered", {})).items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"unordered.{path}: must name the key field, got {value!r}")
            unordered[path] = value
        matchers: dict[str, Matcher] = {}
        for path, value in _mapping("matchers", data.get("matchers", {})).items():
            try:
                matchers[path] = Matcher.parse(value)
            except ValueError as err:
                raise ValueError(f"matchers.{path}: {err}") from None
        return cls(
            **kwargs,  # type: ignore[arg-type]
            tolerance=tolerance,
            unordered=unordered,
            matchers=matchers,
        )

    def ignored(self, path: tuple[Segment, ...]) -> bool:
        return any(p.matches(path) for p in self._ignore)

    def tolerance_for(self, path: tuple[Segment, ...]) -> Tolerance | None:
        return next((t for p, t in self._tolerance if p.matches(path)), None)

    def unordered_key(self, path: tuple[Segment, ...]) -> str | None:
        return next((k for p, k in self._unordered if p.matches(path)), None)

    def matcher_for(self, path: tuple[Segment, ...]) -> Matcher | None:
        return next((m for p, m in self._matchers if p.matches(path)), None)
