"""DRF ``PageNumberPagination`` with the monolith's settings (20 per page, ``page_size`` ≤ 100).

A view turns the request into a :class:`PageRequest`, counts its rows, then asks for the
page; errors are DRF's (``{"detail": "Invalid page."}``, 404)::

    wanted = PageRequest.from_params(params)            # ?page=2&page_size=5
    page = wanted.resolve(count=42)                      # Page(number=2, size=5, ...)
    rows = fetch(offset=page.offset, limit=page.size)
    page.envelope(results, absolute_url)
    # {"count": 42, "next": "http://h/api/products/?page=3&page_size=5",
    #  "previous": "http://h/api/products/?page_size=5", "results": [...]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from extracted.common.errors import NotFound
from extracted.common.wire import QueryParams, raw_query_string

__all__ = [
    "Page",
    "PageRequest",
    "build_absolute_uri",
    "remove_query_param",
    "replace_query_param",
]

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
PAGE_PARAM = "page"
PAGE_SIZE_PARAM = "page_size"


def replace_query_param(url: str, key: str, val: object) -> str:
    """DRF ``rest_framework.utils.urls.replace_query_param``: params re-sorted by key."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(val)]
    query = urlencode(sorted(query_dict.items()), doseq=True)
    return urlunsplit((scheme, netloc, path, query, fragment))


def remove_query_param(url: str, key: str) -> str:
    """DRF ``remove_query_param``: ``http://h/?b=1&page=2&a=1`` → ``http://h/?a=1&b=1``."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    query = urlencode(sorted(query_dict.items()), doseq=True)
    return urlunsplit((scheme, netloc, path, query, fragment))


def _iri_to_uri(iri: str) -> str:
    # django.utils.encoding.iri_to_uri
    return quote(iri, safe="/#%[]=:;$&()+,!?*@'~")


def build_absolute_uri(environ: Mapping[str, Any], *, trust_forwarded: bool) -> str:
    """Django ``request.build_absolute_uri()`` for the current request.

    With ``trust_forwarded`` it mirrors the monolith's ``DJANGO_TRUST_X_FORWARDED=1``
    (``USE_X_FORWARDED_HOST`` and ``SECURE_PROXY_SSL_HEADER = X-Forwarded-Proto: https``).
    """
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    if trust_forwarded and "HTTP_X_FORWARDED_PROTO" in environ:
        proto = str(environ["HTTP_X_FORWARDED_PROTO"]).split(",", 1)[0]
        scheme = "https" if proto.strip() == "https" else "http"
    if trust_forwarded and "HTTP_X_FORWARDED_HOST" in environ:
        host = str(environ["HTTP_X_FORWARDED_HOST"])
    elif "HTTP_HOST" in environ:
        host = str(environ["HTTP_HOST"])
    else:
        host = str(environ.get("SERVER_NAME", "localhost"))
        port = str(environ.get("SERVER_PORT", "80"))
        if port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    path = path.encode("iso-8859-1", "replace").decode("utf-8", "replace")
    full_path = quote(path, safe="/:@&+$,-_.!~*'()")
    query = raw_query_string(environ)
    if query:
        full_path += "?" + _iri_to_uri(query)
    return _iri_to_uri(f"{scheme}://{host}{full_path}")


def _positive_int(text: str, cutoff: int) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return min(value, cutoff)


@dataclass(frozen=True)
class Page:
    """One resolved page: ``number`` is 1-based, ``count`` is the total of all pages."""

    number: int
    size: int
    count: int
    num_pages: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def envelope(self, results: list[Any], absolute_url: str) -> dict[str, Any]:
        next_link: str | None = None
        previous_link: str | None = None
        if self.number < self.num_pages:
            next_link = replace_query_param(absolute_url, PAGE_PARAM, self.number + 1)
        if self.number > 1:
            if self.number - 1 == 1:
                previous_link = remove_query_param(absolute_url, PAGE_PARAM)
            else:
                previous_link = replace_query_param(absolute_url, PAGE_PARAM, self.number - 1)
        return {
            "count": self.count,
            "next": next_link,
            "previous": previous_link,
            "results": results,
        }


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for, before the row count is known."""

    raw_number: str
    size: int

    @classmethod
    def from_params(
        cls, params: QueryParams, *, default_size: int = PAGE_SIZE, max_size: int = MAX_PAGE_SIZE
    ) -> PageRequest:
        size = default_size
        if PAGE_SIZE_PARAM in params:
            try:
                size = _positive_int(params[PAGE_SIZE_PARAM], max_size)
            except ValueError:
                size = default_size
        return cls(raw_number=params.get(PAGE_PARAM) or "1", size=size)

    def resolve(self, count: int) -> Page:
        """Django ``Paginator.validate_number``; raise DRF's 404 "Invalid page." when out."""
        num_pages = max(1, math.ceil(count / self.size))
        if self.raw_number == "last":
            number = num_pages
        else:
            try:
                number = int(self.raw_number)
            except ValueError:
                raise NotFound("Invalid page.") from None
        if number < 1 or number > num_pages:
            raise NotFound("Invalid page.")
        return Page(number=number, size=self.size, count=count, num_pages=num_pages)
