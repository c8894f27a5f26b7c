from django.apps import AppConfig


class SagaConfig(AppConfig):
    name = "legacy_monolith.saga"
    label = "saga"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "payment saga"
