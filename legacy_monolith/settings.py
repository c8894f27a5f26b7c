"""Settings of the demo shop, read once from the environment.

Environment (all optional):

- ``DATABASE_URL``: ``sqlite:///var/monolith.sqlite3`` (default) or ``postgresql://...``
- ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG`` (``1``/``0``), ``DJANGO_ALLOWED_HOSTS`` (comma list,
  added to the loopback defaults; ``*`` allows any host)
- ``DJANGO_TRUST_X_FORWARDED=1``: trust ``X-Forwarded-Host`` / ``X-Forwarded-Proto`` (behind the
  strangler proxy)
- ``DJANGO_CONN_MAX_AGE`` (seconds, PostgreSQL only, default 60)
- ``PAYMENT_LATENCY_MS`` (default 50), ``PAYMENT_FAILURE_RATE`` (0..1, default 0)
- ``STRANGLER_BROKER_URL``: where ``outbox_relay`` publishes (default
  ``sqlite:///var/broker.sqlite3``, the embedded transport; ``amqp://...`` for RabbitMQ)
- ``STRANGLER_PAYMENTS_OWNER``: ``monolith`` (default) or ``service`` (the extracted payments
  service charges orders; the pay endpoint answers 409)
"""

from __future__ import annotations

import os
from pathlib import Path

from legacy_monolith._dburl import parse_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
BASE_DIR = PACKAGE_DIR.parent  # the repository root; var/ lives here


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from err
    if not lo <= value <= hi:
        raise ValueError(f"{name}: must be {lo}..{hi}, got {value}")
    return value


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-0123456789abcdef")
DEBUG = _flag("DJANGO_DEBUG")

ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS += [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()
]

if _flag("DJANGO_TRUST_X_FORWARDED"):
    USE_X_FORWARDED_HOST = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "legacy_monolith.core",
    "legacy_monolith.accounts",
    "legacy_monolith.catalog",
    "legacy_monolith.orders",
    "legacy_monolith.payments",
    "legacy_monolith.shipping",
    "legacy_monolith.outbox",
    "legacy_monolith.saga",
]

MIDDLEWARE = [
    "legacy_monolith.core.middleware.RequestIdMiddleware",
    "legacy_monolith.core.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "legacy_monolith.urls"
WSGI_APPLICATION = "legacy_monolith.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL", "sqlite:///var/monolith.sqlite3"),
        base_dir=BASE_DIR,
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "legacy_monolith.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

PAYMENT_LATENCY_MS = _float("PAYMENT_LATENCY_MS", 50.0, 0.0, 60_000.0)
PAYMENT_FAILURE_RATE = _float("PAYMENT_FAILURE_RATE", 0.0, 0.0, 1.0)

STRANGLER_BROKER_URL = (
    os.environ.get("STRANGLER_BROKER_URL", "").strip() or "sqlite:///var/broker.sqlite3"
)

# Who charges orders: "monolith" (POST /api/orders/<id>/pay/, synchronous) or "service" (the
# extracted payments service, from orders.order.placed events; the pay endpoint then answers
# 409 and the saga_consumer applies the outcomes). Exactly one payment writer at a time.
STRANGLER_PAYMENTS_OWNER = os.environ.get("STRANGLER_PAYMENTS_OWNER", "").strip() or "monolith"
if STRANGLER_PAYMENTS_OWNER not in {"monolith", "service"}:
    raise ValueError(
        f"STRANGLER_PAYMENTS_OWNER: expected monolith or service, got {STRANGLER_PAYMENTS_OWNER!r}"
    )

# JSON lines on stderr, the same shape as the proxy's and the extracted services' logs;
# one line per request (DJANGO_REQUEST_LOG=0 turns those off)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "legacy_monolith.core.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "legacy_monolith.requests": {
            "handlers": ["console"],
            "level": "INFO" if _flag("DJANGO_REQUEST_LOG", True) else "WARNING",
            "propagate": False,
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
