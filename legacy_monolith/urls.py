"""URL layout of the demo shop (documented in legacy_monolith/README.md)."""

from django.contrib import admin
from django.urls import include, path, re_path

from legacy_monolith.core.views import healthz, static

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("api/accounts/", include("legacy_monolith.accounts.urls")),
    path("api/", include("legacy_monolith.catalog.urls")),
    path("api/", include("legacy_monolith.orders.urls")),
    path("api/", include("legacy_monolith.payments.urls")),
    path("api/", include("legacy_monolith.shipping.urls")),
    re_path(r"^static/(?P<path>.+)$", static, name="static"),
]
