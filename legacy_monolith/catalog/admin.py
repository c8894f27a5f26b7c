from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from legacy_monolith.catalog.models import Category, Product
from legacy_monolith.catalog.writer import monolith_writes
from legacy_monolith.outbox.events import EventType, product_deleted_event, product_event


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["id", "sku", "name", "price", "stock", "category", "updated_at"]
    list_filter = ["category"]
    search_fields = ["sku", "name"]
    list_select_related = ["category"]
    raw_id_fields = ["category"]

    # Once the catalog service writes products (STRANGLER_WRITER_CATALOG_PRODUCT=catalog) the
    # admin shows them read-only: no add, change or delete here (the service is the writer).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return monolith_writes() and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return monolith_writes() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return monolith_writes() and super().has_delete_permission(request, obj)

    # The admin wraps each save in a transaction: the outbox event commits with the change.
    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            kind = EventType.PRODUCT_CHANGED if change else EventType.PRODUCT_CREATED
            product_event(kind, obj.pk)

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        with transaction.atomic():
            product_id = obj.pk
            super().delete_model(request, obj)
            product_deleted_event(product_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        with transaction.atomic():
            ids = list(queryset.values_list("pk", flat=True))
            super().delete_queryset(request, queryset)
            for product_id in ids:
                product_deleted_event(product_id)
