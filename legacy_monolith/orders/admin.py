from django.contrib import admin

from legacy_monolith.orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "reference", "user", "status", "total", "created_at"]
    list_filter = ["status"]
    search_fields = ["reference", "user__username"]
    raw_id_fields = ["user"]
    inlines = [OrderLineInline]
