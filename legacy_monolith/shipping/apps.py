from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "legacy_monolith.shipping"
    label = "shipping"
    default_auto_field = "django.db.models.BigAutoField"
