"""Product list filters: ``?category=<slug>&min_price=&max_price=&in_stock=true|false``."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter

from legacy_monolith.catalog.models import Product


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(field_name="category__slug")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock")

    class Meta:
        model = Product
        fields = ["category", "min_price", "max_price", "in_stock"]

    def filter_in_stock(self, queryset: QuerySet[Product], name: str, value: bool) -> Any:
        return queryset.filter(stock__gt=0) if value else queryset.filter(stock=0)


class StableOrderingFilter(OrderingFilter):
    """DRF ordering plus an ``id`` tie-break: ``?ordering=-price`` → ``-price, id``.

    Without it rows with equal prices come back in backend-dependent order, and pages of the
    monolith and the extracted service could not be compared.
    """

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(field.lstrip("-") in {"id", "pk"} for field in ordering):
            ordering.append("id")
        return ordering
