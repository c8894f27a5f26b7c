from __future__ import annotations

from typing import Any

from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from legacy_monolith.orders.models import Order
from legacy_monolith.orders.serializers import OrderCreateSerializer, OrderSerializer
from legacy_monolith.orders.services import cancel_order, place_order
from legacy_monolith.payments.serializers import PaymentSerializer
from legacy_monolith.payments.services import pay_order


class OrderViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own orders only; someone else's order is a 404, as if it did not exist."""

    serializer_class = OrderSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_fields = ["status"]

    def get_queryset(self) -> Any:
        return (
            Order.objects.filter(user=self.request.user).prefetch_related("lines").order_by("-id")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = OrderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lines = [(ln["product"], ln["quantity"]) for ln in payload.validated_data["lines"]]
        order = place_order(request.user, lines)
        order = self.get_queryset().get(pk=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        cancel_order(order.pk, request.user)
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)

    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: str | None = None) -> Response:
        """Charge the order total through the payment gateway: 201 payment, or 502 and unpaid."""
        order = self.get_object()
        payment = pay_order(order.pk, request.user)
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)
