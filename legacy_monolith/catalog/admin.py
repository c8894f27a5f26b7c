from django.contrib import admin

from legacy_monolith.catalog.models import Category, Product


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
