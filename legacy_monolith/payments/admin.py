from django.contrib import admin

from legacy_monolith.payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "amount", "status", "provider_reference", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["order"]
