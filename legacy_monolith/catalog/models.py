from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=10, decimal_places=2, db_index=True)
    stock = models.PositiveIntegerField(default=0)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ReverseSyncEvent(models.Model):
    """One row per catalog-service event ``catalog_reverse_sync`` handled: its dedup table.

    Written in the transaction that applies the event, so a redelivered event stops here.
    ``outcome``: ``applied``, ``stale`` (an older or equal version of the service's stream
    than the one held), ``ignored`` (a type reverse sync does not apply) or ``dead_lettered``
    (could not be applied; ``error`` and ``body`` say why; delete the row to let it retry).
    """

    event_id = models.CharField(max_length=64, primary_key=True)
    type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64)
    version = models.PositiveBigIntegerField(default=0)
    outcome = models.CharField(max_length=16)
    error = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_id} v{self.version}: {self.outcome}"


class ReverseSyncVersion(models.Model):
    """The newest version of the catalog service's event stream applied, per product.

    A stream apart from the monolith's own outbox versions: the service numbers the events it
    publishes itself, so the two never collide (see migration_playbook/09-write-cutover.md).
    """

    product_id = models.BigIntegerField(primary_key=True)
    version = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"product {self.product_id} v{self.version}"
