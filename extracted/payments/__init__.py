"""The payments service: charges orders from ``orders.order.placed`` events, owns its database.

One half of the choreographed payment saga (the other half is the monolith's
``legacy_monolith/saga``)::

    monolith: place_order ──▶ orders.order.placed ──▶ payments service (this package)
                                                         charge (fake provider), record the
                                                         payment + outbox row in one commit
    monolith saga_consumer ◀── payments.payment.succeeded / .failed ◀── its relay
        succeeded → order paid + shipment created; failed → order cancelled, stock released

``python -m extracted.payments.worker --broker URL --database URL`` consumes and relays;
``gunicorn 'extracted.payments.app:create_app()'`` serves ``GET /api/payments/?order=ID`` and
``GET /sync/status`` (read only).
"""
