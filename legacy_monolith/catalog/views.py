from __future__ import annotations

from typing import Any

from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, permissions, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer

from legacy_monolith.catalog.filters import ProductFilter, StableOrderingFilter
from legacy_monolith.catalog.models import Category, Product
from legacy_monolith.catalog.permissions import IsStaffOrReadOnly
from legacy_monolith.catalog.serializers import CategorySerializer, ProductSerializer
from legacy_monolith.catalog.writer import NotTheWriter, monolith_writes
from legacy_monolith.outbox.events import EventType, product_event

WRITE_ACTIONS = {"create", "update", "partial_update"}  # DELETE stays DRF's 405


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Category.objects.order_by("id")
    serializer_class = CategorySerializer
    permission_classes = [permissions.AllowAny]
    filter_backends: list[type] = []


class ProductViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Product.objects.select_related("category").order_by("id")
    serializer_class = ProductSerializer
    permission_classes = [IsStaffOrReadOnly]
    filter_backends = [DjangoFilterBackend, SearchFilter, StableOrderingFilter]
    filterset_class = ProductFilter
    search_fields = ["name", "description", "sku"]
    ordering_fields = ["price", "name", "created_at", "stock", "id"]
    ordering = ["id"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: a write is refused (409) when the catalog
        service is the configured writer of products (``STRANGLER_WRITER_CATALOG_PRODUCT``)."""
        super().initial(request, *args, **kwargs)
        if self.action in WRITE_ACTIONS and not monolith_writes():
            raise NotTheWriter()

    def perform_create(self, serializer: BaseSerializer[Product]) -> None:
        with transaction.atomic():  # the product and its outbox event commit together
            product = serializer.save()
            product_event(EventType.PRODUCT_CREATED, product.pk)

    def perform_update(self, serializer: BaseSerializer[Product]) -> None:
        with transaction.atomic():
            product = serializer.save()
            product_event(EventType.PRODUCT_CHANGED, product.pk)
