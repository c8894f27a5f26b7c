"""The locustfile's checks, through locust itself: a shop that answers 200 with the wrong
data gets failures, not successes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from loadtests._locust import LOCUSTFILE
from loadtests._stats import read_json


class WrongShop(BaseHTTPRequestHandler):
    """Right status, wrong content: product 1 for any id, and filters ignored (its product is
    in a category the shop does not even list)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        item = {
            "id": 1, "sku": "SKU-000001", "name": "Sturdy Lamp 1", "description": "A lamp.",
            "price": "5.00", "stock": 3, "in_stock": True,
            # a category the shop does not list: every category filter gets a wrong product
            "category": {"id": 9, "name": "Garden", "slug": "garden"},
        }  # fmt: skip
        if url.path == "/api/categories/":
            cats = [
                {"id": 1, "name": "Books", "slug": "books"},
                {"id": 2, "name": "Home", "slug": "home"},
            ]
            body: object = {"count": 2, "next": None, "previous": None, "results": cats}
        elif url.path == "/api/products/" and query.get("page_size") == ["1"]:
            body = {"count": 50, "next": None, "previous": None, "results": [{**item, "id": 50}]}
        elif url.path.startswith("/api/products/"):
            body = (
                item
                if url.path != "/api/products/"
                else {"count": 1, "next": None, "previous": None, "results": [item]}
            )
        else:
            body = {"id": 1}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def wrong_shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WrongShop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_wrong_answers_are_failures(wrong_shop: str, tmp_path: Path) -> None:
    prefix = tmp_path / "wrong"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", wrong_shop,
         "-u", "4", "-r", "4", "-t", "3s", "--json-file", str(prefix), "--csv", str(prefix),
         "--exit-code-on-error", "0", "Browser"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = read_json(tmp_path / "wrong.json")
    detail = stats["GET /api/products/[id]/"]
    assert detail.requests > 0
    assert detail.failures > 0  # every id but 1 gets product 1
    home = stats.get("GET /api/products/?category=[slug]")
    assert home is not None and home.failures > 0  # "books" or "home" asked, "garden" answered
    failures = (tmp_path / "wrong_failures.csv").read_text()
    assert "asked for product" in failures
    assert "is in 'garden', not '" in failures
