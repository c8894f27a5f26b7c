from django.contrib import admin

from legacy_monolith.shipping.models import Shipment, TrackingEvent


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    extra = 0


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["id", "tracking_number", "order", "carrier", "status", "created_at"]
    list_filter = ["status", "carrier"]
    search_fields = ["tracking_number", "order__reference"]
    raw_id_fields = ["order"]
    inlines = [TrackingEventInline]
