"""extracted.common: DRF link helpers, DB URL parsing, the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

import extracted.common
from extracted.catalog._params import search_smart_split
from extracted.common import PageRequest, remove_query_param, replace_query_param
from extracted.common.dburl import to_sqlalchemy_url


def test_public_api_is_pinned() -> None:
    assert sorted(extracted.common.__all__) == sorted(
        [
            "APIError", "NotFound", "Page", "PageRequest", "QueryParams", "ValidationFailed",
            "build_absolute_uri", "create_engine_from_url", "install_error_handlers",
            "json_response", "query_params", "remove_query_param", "replace_query_param",
            "to_sqlalchemy_url", "DRY_RUN_HEADER", "install_request_transactions", "is_dry_run",
            "request_connection",
        ]
    )  # fmt: skip


def test_query_param_helpers_sort_and_encode_like_drf() -> None:
    url = "http://h/api/products/?z=1&search=a+b&page=2&a=%C3%A9"
    assert replace_query_param(url, "page", 3) == (
        "http://h/api/products/?a=%C3%A9&page=3&search=a+b&z=1"
    )
    assert remove_query_param(url, "page") == "http://h/api/products/?a=%C3%A9&search=a+b&z=1"


def test_page_request_resolution() -> None:
    page = PageRequest.from_params({"page": "last", "page_size": "7"}).resolve(count=15)
    assert (page.number, page.size, page.offset, page.num_pages) == (3, 7, 14, 3)
    assert PageRequest.from_params({}).resolve(count=0).num_pages == 1  # empty first page


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/c.sqlite3", "sqlite:////repo/var/c.sqlite3"),
        ("sqlite:////tmp/c.sqlite3", "sqlite:////tmp/c.sqlite3"),
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://postgres@127.0.0.1/db", "postgresql+psycopg://postgres@127.0.0.1/db"),
    ],
)
def test_database_urls(url: str, expected: str) -> None:
    assert to_sqlalchemy_url(url, base_dir=Path("/repo")) == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql://h/", "sqlite://"])
def test_bad_database_urls_name_the_url(url: str) -> None:
    with pytest.raises(ValueError, match="database URL"):
        to_sqlalchemy_url(url)


def test_search_smart_split_matches_drf() -> None:
    assert search_smart_split('red "big lamp",sku1 ,, x') == ["red", '"big lamp"', "sku1", "x"]
    assert search_smart_split('"big lamp" x') == ["big lamp", "x"]
    assert search_smart_split("'it\\'s'") == ["it's"]
