"""``python -m django seed``: deterministic demo data, idempotent, fast (bulk inserts).

Natural keys make reruns harmless: categories by slug, products ``SKU-000001``…, users
``user0001``… (password ``password``), orders ``SEED-0000001``…; existing rows are skipped, so
running twice gives the same rows, and a larger size adds only the missing ones. The staff user
``admin`` / ``admin`` is always there afterwards. The last stdout line is a JSON summary::

    {"categories": 20, "products": 10000, "users": 1000, "orders": 20000, "order_lines": 39987,
     "created": {...}, "seconds": 4.2}
"""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from legacy_monolith.catalog.models import Category, Product
from legacy_monolith.orders.models import Order, OrderLine

CATEGORY_NAMES = [
    "Books", "Home", "Garden", "Toys", "Music", "Kitchen", "Sports", "Outdoors", "Office",
    "Electronics", "Games", "Tools", "Beauty", "Health", "Grocery", "Pets", "Baby", "Fashion",
    "Shoes", "Jewelry", "Automotive", "Crafts", "Movies", "Software",
]  # fmt: skip
ADJECTIVES = ["Sturdy", "Compact", "Deluxe", "Classic", "Smart", "Eco", "Vintage", "Pro", "Mini"]
NOUNS = ["Lamp", "Chair", "Kettle", "Notebook", "Backpack", "Speaker", "Mug", "Drill", "Puzzle"]
COLORS = ["red", "green", "blue", "black", "white", "grey", "yellow"]
STATUSES = [Order.Status.PENDING, Order.Status.PAID, Order.Status.SHIPPED, Order.Status.CANCELLED]
STATUS_WEIGHTS = [20, 30, 40, 10]
BATCH = 2000


def category_name(i: int) -> str:
    """``0`` → ``"Books"``, ``24`` → ``"Books 2"``."""
    base = CATEGORY_NAMES[i % len(CATEGORY_NAMES)]
    return base if i < len(CATEGORY_NAMES) else f"{base} {i // len(CATEGORY_NAMES) + 1}"


def username(i: int) -> str:
    return f"user{i:04d}"


def sku(i: int) -> str:
    return f"SKU-{i:06d}"


class Command(BaseCommand):
    help = (
        "Seed deterministic demo data (idempotent). Users user0001..userNNNN have the password "
        "'password'; the staff user is admin/admin. Example: seed --products 10000 --users 1000 "
        "--orders 20000 --categories 20 --seed 42"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--categories", type=int, default=20)
        parser.add_argument("--products", type=int, default=1000)
        parser.add_argument("--users", type=int, default=100)
        parser.add_argument("--orders", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.perf_counter()
        for name in ("categories", "products", "users", "orders"):
            if opts[name] < 0:
                raise ValueError(f"--{name} must be >= 0, got {opts[name]}")
        if opts["products"] and not opts["categories"]:
            raise ValueError("--products needs at least one category")
        if opts["orders"] and not (opts["products"] and opts["users"]):
            raise ValueError("--orders needs --products and --users")
        created: dict[str, int] = {}
        with transaction.atomic():
            created["admin"] = self.seed_admin()
            created["categories"] = self.seed_categories(opts["categories"])
            created["products"] = self.seed_products(
                opts["products"], opts["categories"], opts["seed"]
            )
            created["users"] = self.seed_users(opts["users"])
            created["orders"], created["order_lines"] = self.seed_orders(
                opts["orders"], opts["products"], opts["users"], opts["seed"]
            )
        summary = {
            "categories": Category.objects.filter(
                slug__in=[self.slug(i) for i in range(opts["categories"])]
            ).count(),
            "products": Product.objects.filter(sku__regex=r"^SKU-[0-9]{6,}$").count(),
            "users": get_user_model().objects.filter(username__regex=r"^user[0-9]{4,}$").count(),
            "orders": Order.objects.filter(reference__startswith="SEED-").count(),
            "order_lines": OrderLine.objects.filter(order__reference__startswith="SEED-").count(),
            "created": created,
            "seconds": round(time.perf_counter() - started, 3),
        }
        self.stdout.write(json.dumps(summary))

    @staticmethod
    def slug(i: int) -> str:
        return category_name(i).lower().replace(" ", "-")

    def seed_admin(self) -> int:
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            return 0
        user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        return 1

    def seed_categories(self, count: int) -> int:
        before = Category.objects.count()
        Category.objects.bulk_create(
            [
                Category(
                    name=category_name(i),
                    slug=self.slug(i),
                    description=f"Everything for {category_name(i).lower()}.",
                )
                for i in range(count)
            ],
            ignore_conflicts=True,
        )
        return Category.objects.count() - before

    def seed_products(self, count: int, categories: int, seed: int) -> int:
        rng = random.Random(f"products-{seed}")
        category_ids = dict(Category.objects.values_list("slug", "id"))
        rows = []
        for i in range(1, count + 1):
            adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
            # about one product in eight is sold out, so in_stock filters have work to do
            stock = 0 if rng.random() < 0.125 else rng.randint(1, 500)
            rows.append(
                Product(
                    sku=sku(i),
                    name=f"{adjective} {noun} {i}",
                    description=f"A {adjective.lower()} {noun.lower()} in {rng.choice(COLORS)}.",
                    price=Decimal(rng.randint(99, 99_999)) / 100,
                    stock=stock,
                    category_id=category_ids[self.slug((i - 1) % categories)],
                    attributes={"color": rng.choice(COLORS), "weight_g": rng.randint(50, 5000)},
                )
            )
        before = Product.objects.count()
        Product.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
        return Product.objects.count() - before

    def seed_users(self, count: int) -> int:
        user_model = get_user_model()
        password = make_password("password")  # hashed once: hashing per user would take minutes
        before = user_model.objects.count()
        user_model.objects.bulk_create(
            [
                user_model(
                    username=username(i), email=f"{username(i)}@example.com", password=password
                )
                for i in range(1, count + 1)
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        return user_model.objects.count() - before

    def seed_orders(self, count: int, products: int, users: int, seed: int) -> tuple[int, int]:
        rng = random.Random(f"orders-{seed}")
        user_ids = dict(
            get_user_model()
            .objects.filter(username__regex=r"^user[0-9]{4,}$")
            .values_list("username", "id")
        )
        catalog = {
            row[0]: row[1:]
            for row in Product.objects.filter(sku__regex=r"^SKU-[0-9]{6,}$").values_list(
                "sku", "id", "price", "name"
            )
        }
        existing = set(
            Order.objects.filter(reference__startswith="SEED-").values_list("reference", flat=True)
        )
        plans = []
        for i in range(1, count + 1):
            # draw for every order, existing or not, so order i always gets the same content
            user = user_ids[username(rng.randint(1, users))]
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            picks = rng.sample(range(1, products + 1), k=min(products, rng.randint(1, 3)))
            lines = [(sku(p), rng.randint(1, 4)) for p in picks]
            reference = f"SEED-{i:07d}"
            if reference not in existing:
                plans.append((reference, user, status, lines))
        orders = [
            Order(
                reference=ref,
                user_id=user,
                status=status,
                total=sum((catalog[code][1] * qty for code, qty in lines), Decimal("0.00")),
            )
            for ref, user, status, lines in plans
        ]
        Order.objects.bulk_create(orders, batch_size=BATCH)
        order_lines = [
            OrderLine(
                order_id=order.pk,
                product_id=catalog[code][0],
                sku=code,
                name=catalog[code][2],
                unit_price=catalog[code][1],
                quantity=qty,
                line_total=catalog[code][1] * qty,
            )
            for order, (_, _, _, lines) in zip(orders, plans, strict=True)
            for code, qty in lines
        ]
        OrderLine.objects.bulk_create(order_lines, batch_size=BATCH)
        return len(orders), len(order_lines)
