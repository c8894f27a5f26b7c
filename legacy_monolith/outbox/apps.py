from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "legacy_monolith.outbox"
    label = "outbox"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "transactional outbox"
