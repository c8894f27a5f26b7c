from rest_framework import serializers

from legacy_monolith.orders.models import Order
from legacy_monolith.shipping.models import Shipment, TrackingEvent


class TrackingEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrackingEvent
        fields = ["id", "status", "location", "message", "occurred_at"]
        read_only_fields = ["id"]
        extra_kwargs = {"occurred_at": {"required": False}}


class ShipmentSerializer(serializers.ModelSerializer):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all())
    events = TrackingEventSerializer(many=True, read_only=True)

    class Meta:
        model = Shipment
        fields = ["id", "order", "carrier", "tracking_number", "status", "events", "created_at"]
        read_only_fields = ["id", "tracking_number", "status", "created_at"]
        extra_kwargs = {"carrier": {"required": False}}
