from __future__ import annotations

from typing import Any

from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from legacy_monolith.catalog.permissions import IsStaffOrReadOnly
from legacy_monolith.shipping.models import Shipment
from legacy_monolith.shipping.serializers import ShipmentSerializer, TrackingEventSerializer
from legacy_monolith.shipping.services import add_event, ship_order


class ShipmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers read the shipments of their own orders; staff see all and create them."""

    serializer_class = ShipmentSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]

    def get_queryset(self) -> Any:
        queryset = Shipment.objects.prefetch_related("events").order_by("-id")
        if self.request.user.is_staff:
            return queryset
        return queryset.filter(order__user=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """``POST {"order": id, "carrier"?}`` for a paid order → 201; not paid → 409."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        shipment = ship_order(data["order"].pk, data.get("carrier") or "DemoPost")
        fresh = self.get_queryset().get(pk=shipment.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], serializer_class=TrackingEventSerializer)
    def events(self, request: Request, pk: str | None = None) -> Response:
        """Staff: ``POST {"status", "location"?, "message"?}`` adds a tracking event."""
        shipment = self.get_object()
        serializer = TrackingEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = add_event(shipment, dict(serializer.validated_data))
        return Response(TrackingEventSerializer(event).data, status=status.HTTP_201_CREATED)
