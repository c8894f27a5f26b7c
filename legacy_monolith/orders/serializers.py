from rest_framework import serializers

from legacy_monolith.orders.models import Order, OrderLine


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product", "sku", "name", "unit_price", "quantity", "line_total"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "reference", "status", "total", "lines", "created_at", "updated_at"]


class LineInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class OrderCreateSerializer(serializers.Serializer):
    """``{"lines": [{"product": 7, "quantity": 2}, ...]}`` (1 to 50 lines)."""

    lines = LineInputSerializer(many=True, allow_empty=False, max_length=50)
