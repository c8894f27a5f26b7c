from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "legacy_monolith.core"
    label = "core"
    verbose_name = "Shop core (health, seed)"
    default_auto_field = "django.db.models.BigAutoField"
