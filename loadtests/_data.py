"""Deterministic choices from the seeded demo data (``python -m django seed``).

One seed (``--seed`` / ``LOADTEST_SEED``) fixes every choice: user *n* of class ``Browser``
draws the same products, categories and searches in every run, so a baseline and a candidate
see the same request mix. Only sign-up names carry a per-run nonce (a username can be
registered once).

    >>> picker = Picker(seed=42, stream="Browser-1", shop=Shop(products=300, users=50,
    ...                 categories=("books", "home")))
    >>> picker.product_id() == Picker(42, "Browser-1", picker.shop).product_id()
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["NOUNS", "Picker", "Shop"]

# the seed command's vocabulary (legacy_monolith/core/management/commands/seed.py)
NOUNS = ("Lamp", "Chair", "Kettle", "Notebook", "Backpack", "Speaker", "Mug", "Drill", "Puzzle")
ADJECTIVES = ("Sturdy", "Compact", "Deluxe", "Classic", "Smart", "Eco", "Vintage", "Pro", "Mini")
COLORS = ("red", "green", "blue", "black", "white", "grey", "yellow")
ORDERINGS = ("price", "-price", "name", "-created_at")
TRACKING_STEPS = ("in_transit", "out_for_delivery", "delivered")


@dataclass(frozen=True)
class Shop:
    """What the load test knows about the seeded shop: sizes and category slugs."""

    products: int
    users: int
    categories: tuple[str, ...]
    category_ids: tuple[int, ...] = ()


@dataclass
class Picker:
    """A reproducible stream of choices for one simulated user."""

    seed: int
    stream: str
    shop: Shop
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.stream}")

    def product_id(self) -> int:
        # a few popular products get most views, as in any shop: 50% of views go to 10%
        top = max(1, self.shop.products // 10)
        if self.rng.random() < 0.5:
            return self.rng.randint(1, top)
        return self.rng.randint(1, self.shop.products)

    def category(self) -> str:
        return self.rng.choice(self.shop.categories)

    def category_id(self) -> int:
        ids = self.shop.category_ids or tuple(range(1, len(self.shop.categories) + 1))
        return self.rng.choice(ids)

    def price_range(self) -> tuple[Decimal, Decimal]:
        low = self.rng.randint(1, 800)
        return Decimal(low), Decimal(low + self.rng.choice((25, 50, 100, 200)))

    def search_term(self) -> str:
        return self.rng.choice(NOUNS + ADJECTIVES + COLORS)

    def ordering(self) -> str:
        return self.rng.choice(ORDERINGS)

    def page(self, count: int, page_size: int) -> int:
        pages = max(1, -(-count // page_size))
        return self.rng.randint(1, min(pages, 10))

    def username(self) -> str:
        """One of the seeded accounts ``user0001`` … (password ``password``)."""
        return f"user{self.rng.randint(1, self.shop.users):04d}"

    def basket(self) -> list[tuple[int, int]]:
        """1 to 3 distinct products with small quantities: ``[(product, quantity), ...]``."""
        wanted = {self.product_id() for _ in range(self.rng.randint(1, 3))}
        return [(pid, self.rng.randint(1, 2)) for pid in sorted(wanted)]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def choice(self, items: list[int]) -> int:
        return self.rng.choice(items)

    def tracking_step(self) -> str:
        return self.rng.choice(TRACKING_STEPS)
