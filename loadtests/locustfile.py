"""The demo shop's traffic mix, for locust.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 --headless -u 20 -r 10 -t 60s

Any base URL works: the monolith directly, the strangler proxy, or an extracted service (a
catalog service answers only the catalog; the other classes then fail, as they should).

Who (weight)                       what
``Browser`` (12)                   anonymous: categories, category pages, price/stock filters,
                                   search, sorting, paging, product pages
``Shopper`` (6)                    a seeded account (``user0001`` … / ``password``): logs in,
                                   browses, places orders, pays them, reads orders, payments
                                   and tracks shipments
``Newcomer`` (1)                   signs up, reads the profile, logs out, logs in again
``Warehouse`` (1)                  the staff account ``admin``: ships the orders shoppers paid
                                   (this process's), adds tracking events, lists shipments

Options (locust custom arguments, or the environment):

``--seed`` / ``LOADTEST_SEED`` (42)  every data choice derives from it (see ``_data.py``)
``--shop-users`` / ``LOADTEST_SHOP_USERS`` (50)  seeded accounts to log in as
``--accounts`` / ``LOADTEST_ACCOUNTS`` (8)  distinct accounts the shoppers share: a login costs
                                   the server ~0.5 s of CPU (PBKDF2), so tokens are reused
``LOADTEST_SHAPE`` = ``steady`` | ``steps`` (unset: none): see ``shapes.py``

URLs with ids or query values are grouped with ``name=`` (``/api/products/[id]/``,
``/api/products/?category=[slug]``) so the statistics aggregate per endpoint. Every answer is
checked (``_checks.py``): a 200 with the wrong product or an unfiltered page is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from gevent.lock import Semaphore
from locust import HttpUser, between, events, task

from loadtests import _checks as checks
from loadtests import shapes as _shapes
from loadtests._data import Picker, Shop

# --- options ----------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        env_var="LOADTEST_SEED",
        default=42,
        help="seed of every data choice (same seed, same request mix)",
    )
    parser.add_argument(
        "--shop-users",
        type=int,
        env_var="LOADTEST_SHOP_USERS",
        default=50,
        help="seeded accounts user0001..userNNNN that exist in the shop",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        env_var="LOADTEST_ACCOUNTS",
        default=8,
        help="how many distinct seeded accounts the shoppers log in as",
    )


_shape = _shapes.select(os.environ.get("LOADTEST_SHAPE", ""))
if _shape is not None:
    # only the chosen shape is visible to locust (it refuses two without a class picker)
    LoadShape = type("LoadShape", (_shape,), {"__doc__": _shape.__doc__})


# --- per-process state ------------------------------------------------------------------------

_SHOP: dict[str, Shop] = {}
_SHOP_LOCK = Semaphore()
_TOKENS: dict[str, str] = {}
_TOKEN_LOCKS: dict[str, Semaphore] = {}
_PAID_ORDERS: deque[int] = deque(maxlen=1000)  # the warehouse ships these
_SERIAL = itertools.count(1)
_NONCE = secrets.token_hex(3)  # sign-up names must be new in every run


def _shop(host: str, shop_users: int) -> Shop:
    """Learn the catalog's size and categories once per process, outside the statistics."""
    with _SHOP_LOCK:
        if host not in _SHOP:

            def get(path: str) -> Any:
                with urllib.request.urlopen(host.rstrip("/") + path, timeout=30) as resp:
                    return json.load(resp)

            categories = get("/api/categories/?page_size=100")["results"]
            products = get("/api/products/?page_size=1&ordering=-id")
            last_id = products["results"][0]["id"] if products["results"] else 1
            _SHOP[host] = Shop(
                products=int(min(last_id, products["count"]) or 1),
                users=shop_users,
                categories=tuple(c["slug"] for c in categories),
                category_ids=tuple(c["id"] for c in categories),
            )
        return _SHOP[host]


# --- users --------------------------------------------------------------------------------------


class ShopUser(HttpUser):
    abstract = True
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.seed = int(getattr(opts, "seed", 42) if opts else 42)
        self.shop_users = int(getattr(opts, "shop_users", 50) if opts else 50)
        self.accounts = int(getattr(opts, "accounts", 8) if opts else 8)
        self.serial = next(_SERIAL)
        self.pick = Picker(self.seed, f"{type(self).__name__}-{self.serial}", Shop(1, 1, ("",)))
        self.pick.shop = _shop(self.host, self.shop_users)
        self.headers: dict[str, str] = {}

    # One request with its check. ``expect`` is the right status; ``accept`` maps other statuses
    # to a check that may still make them right (an honest 409 "out of stock", say).
    def call(
        self,
        method: str,
        url: str,
        name: str,
        check: Callable[[Any], str | None],
        *,
        expect: int = 200,
        accept: dict[int, Callable[[Any], str | None]] | None = None,
        body: Any = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"name": name, "catch_response": True, "headers": self.headers}
        if body is not None:
            kwargs["json"] = body
        with self.client.request(method, url, **kwargs) as resp:
            judge = check if resp.status_code == expect else (accept or {}).get(resp.status_code)
            if judge is None:
                resp.failure(f"status {resp.status_code}, expected {expect}: {resp.text[:120]}")
                return None
            try:
                data = resp.json() if resp.content else None
            except ValueError:
                resp.failure(f"status {resp.status_code}: body is not JSON")
                return None
            problem = judge(data)
            if problem:
                resp.failure(problem)
                return None
            resp.success()
            return data if resp.status_code == expect else None

    # -- browsing (anonymous and signed-in alike) --
    def categories(self) -> None:
        self.call("GET", "/api/categories/", "/api/categories/", checks.category_list)

    def category(self) -> None:
        cid = self.pick.category_id()
        self.call(
            "GET",
            f"/api/categories/{cid}/",
            "/api/categories/[id]/",
            lambda b: checks.category_detail(b, cid),
        )

    def by_category(self) -> None:
        slug = self.pick.category()
        self.call(
            "GET",
            f"/api/products/?category={slug}",
            "/api/products/?category=[slug]",
            lambda b: checks.product_list(b, category=slug),
        )

    def by_price(self) -> None:
        low, high = self.pick.price_range()
        in_stock = self.pick.chance(0.5)
        url = f"/api/products/?min_price={low}&max_price={high}"
        name = "/api/products/?min_price=[p]&max_price=[p]"
        if in_stock:
            url, name = url + "&in_stock=true", name + "&in_stock=true"
        self.call(
            "GET",
            url,
            name,
            lambda b: checks.product_list(
                b, min_price=low, max_price=high, in_stock=True if in_stock else None
            ),
        )

    def search(self) -> None:
        term = self.pick.search_term()
        ordering = self.pick.ordering()
        self.call(
            "GET",
            f"/api/products/?search={term}&ordering={ordering}",
            "/api/products/?search=[term]&ordering=[field]",
            lambda b: checks.product_list(b, search=term),
        )

    def browse_pages(self) -> None:
        size = 20
        page = self.pick.page(self.pick.shop.products, size)
        self.call(
            "GET",
            f"/api/products/?page={page}&page_size={size}",
            "/api/products/?page=[n]",
            lambda b: checks.product_list(b, page_size=size),
        )

    def product(self) -> None:
        pid = self.pick.product_id()
        self.call(
            "GET",
            f"/api/products/{pid}/",
            "/api/products/[id]/",
            lambda b: checks.product_detail(b, pid),
        )

    # -- accounts --
    def login(self, username: str, password: str, *, reuse: bool = True) -> str | None:
        """Log in (once per process and account when ``reuse``); sets the token header."""
        lock = _TOKEN_LOCKS.setdefault(username, Semaphore())
        with lock:
            token = _TOKENS.get(username) if reuse else None
            if token is None:
                saved, self.headers = self.headers, {}
                data = self.call(
                    "POST",
                    "/api/accounts/login/",
                    "/api/accounts/login/",
                    checks.token,
                    body={"username": username, "password": password},
                )
                self.headers = saved
                if data is None:
                    return None
                token = _TOKENS[username] = str(data["token"])
        self.headers = {"Authorization": f"Token {token}"}
        return token


class Browser(ShopUser):
    """Anonymous visitors: the bulk of the traffic."""

    weight = 12

    @task(3)
    def t_categories(self) -> None:
        self.categories()

    @task(1)
    def t_category(self) -> None:
        self.category()

    @task(5)
    def t_by_category(self) -> None:
        self.by_category()

    @task(3)
    def t_by_price(self) -> None:
        self.by_price()

    @task(3)
    def t_search(self) -> None:
        self.search()

    @task(2)
    def t_pages(self) -> None:
        self.browse_pages()

    @task(8)
    def t_product(self) -> None:
        self.product()


class Shopper(ShopUser):
    """A seeded customer: browses, orders, pays, and follows the parcels."""

    weight = 6

    def on_start(self) -> None:
        super().on_start()
        # the account pool is fixed by the seed: shoppers share --accounts accounts
        pool = Picker(self.seed, "accounts", self.pick.shop)
        names = sorted({pool.username() for _ in range(self.accounts * 4)})[: self.accounts]
        self.username = names[(self.serial - 1) % len(names)]
        self.pending: list[tuple[int, str]] = []  # (order id, total) this user placed
        self.orders: list[int] = []
        self.login(self.username, "password")

    @task(4)
    def t_product(self) -> None:
        self.product()

    @task(2)
    def t_by_category(self) -> None:
        self.by_category()

    @task(1)
    def t_search(self) -> None:
        self.search()

    @task(1)
    def t_profile(self) -> None:
        self.call(
            "GET",
            "/api/accounts/profile/",
            "/api/accounts/profile/",
            lambda b: checks.profile(b, self.username),
        )

    @task(2)
    def t_orders(self) -> None:
        data = self.call("GET", "/api/orders/", "/api/orders/", checks.order_list)
        if data:
            self.orders = [o["id"] for o in data["results"]][:20]

    @task(1)
    def t_pending_orders(self) -> None:
        self.call(
            "GET",
            "/api/orders/?status=pending",
            "/api/orders/?status=[status]",
            lambda b: checks.order_list(b, "pending"),
        )

    @task(1)
    def t_order(self) -> None:
        if not self.orders:
            return
        oid = self.pick.choice(self.orders)
        self.call(
            "GET", f"/api/orders/{oid}/", "/api/orders/[id]/", lambda b: checks.order_detail(b, oid)
        )

    @task(3)
    def t_place_order(self) -> None:
        lines = self.pick.basket()
        data = self.call(
            "POST",
            "/api/orders/",
            "/api/orders/",
            lambda b: checks.order_created(b, lines),
            expect=201,
            # running out of stock is a right answer, not a failure
            accept={409: lambda b: None if "stock" in str(b) else f"409 without a reason: {b}"},
            body={"lines": [{"product": p, "quantity": q} for p, q in lines]},
        )
        if data:
            self.pending.append((data["id"], data["total"]))
            self.orders.insert(0, data["id"])

    @task(2)
    def t_pay(self) -> None:
        if not self.pending:
            return
        oid, total = self.pending.pop(0)
        if self.call(
            "POST",
            f"/api/orders/{oid}/pay/",
            "/api/orders/[id]/pay/",
            lambda b: checks.payment_succeeded(b, oid, total),
            expect=201,
        ):
            _PAID_ORDERS.append(oid)

    @task(1)
    def t_payments(self) -> None:
        self.call("GET", "/api/payments/", "/api/payments/", lambda b: checks._page(b)[1])

    @task(2)
    def t_track(self) -> None:
        data = self.call("GET", "/api/shipments/", "/api/shipments/", checks.shipment_list)
        if data and data["results"]:
            sid = data["results"][0]["id"]
            self.call(
                "GET",
                f"/api/shipments/{sid}/",
                "/api/shipments/[id]/",
                lambda b: checks.shipment_detail(b, sid),
            )


class Newcomer(ShopUser):
    """Signs up, looks at the profile, logs out and back in: the account endpoints."""

    weight = 1
    wait_time = between(3, 6)  # sign-ups are rare, and each costs the server a password hash

    @task
    def journey(self) -> None:
        username = f"lt{_NONCE}s{self.serial}n{next(_SERIAL)}"
        password = f"Lt-{secrets.token_hex(8)}"
        self.headers = {}
        data = self.call(
            "POST",
            "/api/accounts/register/",
            "/api/accounts/register/",
            lambda b: checks.registered(b, username),
            expect=201,
            body={"username": username, "password": password, "email": f"{username}@example.com"},
        )
        if not data:
            return
        self.headers = {"Authorization": f"Token {data['token']}"}
        self.call(
            "GET",
            "/api/accounts/profile/",
            "/api/accounts/profile/",
            lambda b: checks.profile(b, username),
        )
        self.product()
        self.call(
            "POST", "/api/accounts/logout/", "/api/accounts/logout/", lambda b: None, expect=204
        )
        self.login(username, password, reuse=False)


class Warehouse(ShopUser):
    """Staff: ships what was paid and reports the parcels' progress."""

    weight = 1

    def on_start(self) -> None:
        super().on_start()
        self.shipments: list[int] = []
        self.login("admin", "admin")

    @task(3)
    def t_ship(self) -> None:
        if not _PAID_ORDERS:
            return self.t_list()
        oid = _PAID_ORDERS.popleft()
        data = self.call(
            "POST",
            "/api/shipments/",
            "/api/shipments/",
            lambda b: checks.shipment_created(b, oid),
            expect=201,
            body={"order": oid, "carrier": "DemoPost"},
        )
        if data:
            self.shipments.append(data["id"])
        return None

    @task(2)
    def t_event(self) -> None:
        if not self.shipments:
            return
        sid = self.pick.choice(self.shipments[-50:])
        status = self.pick.tracking_step()
        self.call(
            "POST",
            f"/api/shipments/{sid}/events/",
            "/api/shipments/[id]/events/",
            lambda b: checks.tracking_event(b, status),
            expect=201,
            body={"status": status, "location": "Hub 1", "message": "load test"},
        )

    @task(1)
    def t_list(self) -> None:
        self.call("GET", "/api/shipments/", "/api/shipments/", checks.shipment_list)
