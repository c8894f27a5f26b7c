"""The monolith's half of the choreographed payment saga (when the payments service owns
payments, ``STRANGLER_PAYMENTS_OWNER=service``)::

    orders.order.placed ──▶ payments service ──▶ payments.payment.succeeded ──▶ this app:
                                                   order paid, shipment created
                                             └─▶ payments.payment.failed ──▶ this app:
                                                   compensation: order cancelled, stock released

``python -m django saga_consumer`` consumes ``payments.payment.*`` from the queue
``monolith.saga``; each event is applied once (``SagaProcessedEvent`` keyed by event id, in
the transaction of the change), through the shop's own services so their outbox events
(``orders.order.paid``, ``shipping.shipment.created``, ``orders.order.cancelled``,
``catalog.product.stock_changed``) are written as for any other change.
"""
