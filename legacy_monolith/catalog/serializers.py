"""The catalog wire format (see CONTRACT.md): the extracted service must match these bytes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from legacy_monolith.catalog.models import Category, Product


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "description"]


class CategoryRefField(serializers.PrimaryKeyRelatedField):
    """Written as an id (``"category": 2``), read as ``{"id": 2, "name": ..., "slug": ...}``."""

    def use_pk_only_optimization(self) -> bool:
        return False

    def to_representation(self, value: Category) -> dict[str, Any]:
        return {"id": value.pk, "name": value.name, "slug": value.slug}


class ProductSerializer(serializers.ModelSerializer):
    in_stock = serializers.SerializerMethodField()
    category = CategoryRefField(queryset=Category.objects.all())

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "price",
            "stock",
            "in_stock",
            "category",
            "attributes",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"price": {"min_value": 0}}

    def get_in_stock(self, obj: Product) -> bool:
        return obj.stock > 0

    def validate_attributes(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value
