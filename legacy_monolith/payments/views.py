from typing import Any

from rest_framework import permissions, viewsets

from legacy_monolith.payments.models import Payment
from legacy_monolith.payments.serializers import PaymentSerializer


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's payments, newest first (``?order=<id>`` and ``?status=failed`` filter)."""

    serializer_class = PaymentSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_fields = ["order", "status"]

    def get_queryset(self) -> Any:
        return Payment.objects.filter(order__user=self.request.user).order_by("-id")
