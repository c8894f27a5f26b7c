from rest_framework import serializers

from legacy_monolith.payments.models import Payment


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "order", "amount", "status", "provider_reference", "error", "created_at"]
