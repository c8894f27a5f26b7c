from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "legacy_monolith.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from legacy_monolith.catalog.writer import writer

        writer()  # an unknown STRANGLER_WRITER_CATALOG_PRODUCT stops the start-up
