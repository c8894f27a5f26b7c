"""Business errors of the shop, rendered by DRF as ``{"detail": "..."}`` with their status.

::

    APIException (DRF)
    ├── Conflict                 409  the resource's current state forbids the request
    │   ├── OutOfStock           409  not enough stock for an order line
    │   └── InvalidTransition    409  e.g. cancelling a paid order
    └── PaymentFailed            502  the payment provider failed or declined; order stays unpaid
"""

from rest_framework import status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class OutOfStock(Conflict):
    default_detail = "Insufficient stock."
    default_code = "out_of_stock"


class InvalidTransition(Conflict):
    default_detail = "This status change is not allowed."
    default_code = "invalid_transition"


class PaymentFailed(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The payment provider failed; the order was not paid."
    default_code = "payment_failed"
