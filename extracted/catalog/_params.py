"""Product list parameters parsed exactly as the monolith's filter backends parse them.

Order of checks is the monolith's: django-filter (400 with one key per bad param), then DRF
``SearchFilter`` (400 ``["Null characters are not allowed."]``), then ``OrderingFilter`` (never
fails). Examples::

    ?min_price=abc&max_price=1e51
        → ValidationFailed({"min_price": ["Enter a number."],
                            "max_price": ["Ensure this value is less than or equal to 1e+50."]})
    ?in_stock=maybe              → no stock filter (Django NullBooleanSelect: ignored)
    ?search=red "big lamp",sku1  → terms ["red", "big lamp", "sku1"]
    ?ordering=-price,bogus       → ("-price", "id")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from extracted.common import QueryParams, ValidationFailed

__all__ = ["ORDERING_FIELDS", "ProductQuery", "search_smart_split"]

ORDERING_FIELDS = ("price", "name", "created_at", "stock", "id")
DEFAULT_ORDERING = ("id",)

_NUMBER_MAX = 1e50  # django-filter NumberFilter.get_max_validator (a float, compared exactly)
_NULL_CHARS = "Null characters are not allowed."
_ENTER_NUMBER = "Enter a number."

# django.utils.text.smart_split_re
_SMART_SPLIT = re.compile(
    r"""
    ((?:
        [^\s'"]*
        (?:
            (?:"(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*')
            [^\s'"]*
        )+
    ) | \S+)
""",
    re.VERBOSE,
)


def _unescape_string_literal(s: str) -> str:
    # django.utils.text.unescape_string_literal, for a string already known to be quoted
    quote = s[0]
    return s[1:-1].replace(rf"\{quote}", quote).replace(r"\\", "\\")


def search_smart_split(search_terms: str) -> list[str]:
    """DRF ``search_smart_split``: ``'a,b "c d"'`` → ``["a", "b", "c d"]``."""
    split_terms: list[str] = []
    for match in _SMART_SPLIT.finditer(search_terms):
        term = match[0].strip(",")
        if term.startswith(('"', "'")) and term[0] == term[-1]:
            split_terms.append(_unescape_string_literal(term))
        else:
            split_terms.extend(sub.strip() for sub in term.split(",") if sub)
    return split_terms


def _decimal(raw: str | None) -> tuple[Decimal | None, str | None]:
    """django-filter ``NumberFilter`` field: (value, error message)."""
    if raw is None or raw == "":
        return None, None
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None, _ENTER_NUMBER
    if not value.is_finite():
        return None, _ENTER_NUMBER
    if value > _NUMBER_MAX:
        return None, f"Ensure this value is less than or equal to {_NUMBER_MAX}."
    return value, None


# django.forms.NullBooleanSelect.value_from_datadict: the monolith's ``in_stock`` is a plain
# ``django_filters.BooleanFilter`` (not the rest_framework one with ``BooleanWidget``), so
# "TRUE", "1" and "0" are ignored while the legacy "2"/"3" still mean true/false.
_BOOLEAN = {"True": True, "true": True, "2": True, "False": False, "false": False, "3": False}


def _boolean(raw: str | None) -> bool | None:
    return _BOOLEAN.get(raw or "")


@dataclass(frozen=True)
class ProductQuery:
    category_slug: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    search_terms: tuple[str, ...] = ()
    ordering: tuple[str, ...] = DEFAULT_ORDERING

    @classmethod
    def from_params(cls, params: QueryParams) -> ProductQuery:
        errors: dict[str, list[str]] = {}
        category: str | None = None
        raw_category = params.get("category")
        if raw_category is not None:
            category = raw_category.strip() or None
            if category is not None and "\x00" in category:
                errors["category"] = [_NULL_CHARS]
        min_price, min_error = _decimal(params.get("min_price"))
        if min_error:
            errors["min_price"] = [min_error]
        max_price, max_error = _decimal(params.get("max_price"))
        if max_error:
            errors["max_price"] = [max_error]
        if errors:
            raise ValidationFailed(errors)

        search = params.get("search", "")
        if "\x00" in search:
            raise ValidationFailed([_NULL_CHARS])

        return cls(
            category_slug=category,
            min_price=min_price,
            max_price=max_price,
            in_stock=_boolean(params.get("in_stock")),
            search_terms=tuple(search_smart_split(search)),
            ordering=_ordering(params.get("ordering")),
        )


def _ordering(raw: str | None) -> tuple[str, ...]:
    """DRF ``OrderingFilter`` plus the monolith's ``id`` tie-break."""
    ordering: list[str] = []
    if raw:
        fields = [part.strip() for part in raw.split(",")]
        ordering = [f for f in fields if (f[1:] if f.startswith("-") else f) in ORDERING_FIELDS]
    if not ordering:
        ordering = list(DEFAULT_ORDERING)
    if not any(field.lstrip("-") in {"id", "pk"} for field in ordering):
        ordering.append("id")
    return tuple(ordering)
