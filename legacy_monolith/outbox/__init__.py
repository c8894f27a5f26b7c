"""The transactional outbox: domain events written with the change, published by a relay.

- :mod:`.models`: ``OutboxEvent``, one row per event.
- :mod:`.events`: the helpers the services call inside their transactions.
- :mod:`.relay` and ``python -m django outbox_relay``: publish unsent rows to the broker.
- :mod:`.broker`: broker URL → kombu connection (RabbitMQ or the embedded SQLite transport).
"""
