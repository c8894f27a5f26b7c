from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "legacy_monolith.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
