"""Settings for tradingsite, driven by environment variables.

Defaults suit a local machine (PostgreSQL and Redis on loopback, DEBUG on).
With DEBUG=False production hardening switches on and a SECRET_KEY is required.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from core.schedule import QUEUES

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# prometheus-client's multiprocess mode (core/metrics.py): every process of the platform writes its counters and
# histograms under this directory and /metrics sums them. Set before anything imports prometheus_client.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(BASE_DIR / "var" / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
if "prometheus_client.values" in sys.modules:
    # Imported before these settings (the `celery` command loads Flower's plugin, which imports it): metrics made
    # from now on take the multiprocess values; without this a worker's samples would stay in its own memory.
    from prometheus_client import values as _prometheus_values

    _prometheus_values.ValueClass = _prometheus_values.get_value_class()
# GET /metrics answers a scraper that sends "Authorization: Bearer <token>" or comes from an allowed network.
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])

DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105  (DEBUG only)
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Where the shared reference data lives (real Binance and Polymarket payloads).
SHARED_DATA_DIR = Path(env.str("SHARED_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular_sidecar",
    "django_filters",
    "drf_spectacular",
    "core",
    "exchanges",
    "feeds",
    "orders",
    "liquidation",
    "cycles",
    "positions",
    "wallets",
    "analytics",
    "dashboard",
    "django_prometheus",  # request and database metrics (its exporter is not mounted: /metrics is ours)
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.OutageMiddleware",  # next: a lost PostgreSQL or Redis is a 503, never a 500
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: refuses a locked-out login before it reaches the view.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# django-axes first: a login refused for too many failures never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = "tradingsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- PostgreSQL, through psycopg 3's connection pool -------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://127.0.0.1:5432/tradingsite")}
DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=5)
DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool owns connection lifetime
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # the same backend, its queries counted
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DATABASES["default"].setdefault("OPTIONS", {})
if DB_POOL_SIZE > 0:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
# A pooled connection is checked before it is handed out: one an outage broke is replaced, not reused.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Long-running loops back off this long at most between attempts while PostgreSQL or Redis is away.
OUTAGE_BACKOFF_MAX_S = env.float("OUTAGE_BACKOFF_MAX_S", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, market-data snapshot, limiter buckets, write-behind buffer --
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ts"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    }
}

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
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Encrypts venue credentials at rest: one Fernet key, or several separated by commas, newest first
# (`manage.py rotate_credentials` re-encrypts every row with the newest). Independent of SECRET_KEY, so
# rotating SECRET_KEY never makes an account unreadable. Required with DEBUG off; a fixed development key
# otherwise. CREDENTIALS_LEGACY_SECRET_KEY: the SECRET_KEY that rows written before this setting existed were
# encrypted under (read only, until rotate_credentials has run).
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEY", default=[])
CREDENTIALS_LEGACY_SECRET_KEY = env.str("CREDENTIALS_LEGACY_SECRET_KEY", default="")
if not DEBUG and not CREDENTIALS_KEYS:
    raise ImproperlyConfigured(
        "CREDENTIALS_KEY must be set when DEBUG is off: a Fernet key "
        "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
    )
for _key in CREDENTIALS_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "CREDENTIALS_KEY holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "health": env.str("HEALTH_THROTTLE", default="120/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# API tokens (django-rest-knox): stored as a SHA-512 digest, never in clear; expire after API_TOKEN_TTL_HOURS.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("API_TOKEN_TTL_HOURS", default=24 * 30)),
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar): the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "tradingsite API",
    "DESCRIPTION": "Cycles, orders, positions, wallets and operator actions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "CycleStateEnum": "cycles.models.CycleState",
        "PositionPhaseEnum": "positions.models.PositionPhase",
        "TakeProfitStatusEnum": "positions.models.TakeProfitStatus",
        "CopyTradeStatusEnum": "wallets.models.CopyTradeStatus",
        "SideEnum": "exchanges.models.Side",
    },
}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A safety net, not a cure: a pool process past this much resident memory (kB) is replaced after its task
# (bench/run.py soak measures the worker's growth; recycling after N tasks did not flatten it).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=400_000)
# Money tasks opt in to acks_late one by one; a task redelivered after a crash
# must find its state already advanced and do nothing.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat wait for the broker for as long as it takes (backoff), at start-up and after a loss.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4.0
CELERY_BROKER_TRANSPORT = "core.broker:Transport"  # kombu's Redis transport, repaired to ride out an outage
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 10
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 10
# Must exceed the longest countdown/eta we ever schedule, or Redis redelivers early.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 10,
}
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_QUEUES = [Queue(name) for name in QUEUES]
# Each task names its queue and, if beat sends it, its period where it is defined (core.schedule.task).
CELERY_TASK_ROUTES = ["core.schedule.route"]
CELERY_BEAT_SCHEDULER = "core.schedule:DeclaredScheduler"

# --- Logging: one JSON object a line ------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
_NOT_BELOW_INFO = "INFO" if LOG_LEVEL.upper() == "DEBUG" else LOG_LEVEL
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "filters": {"quiet_ticks": {"()": "core.logging.QuietTicks"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["quiet_ticks"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # ccxt and urllib3 at DEBUG log request headers (the API key) and signed URLs: never below INFO.
        "ccxt": {"handlers": ["console"], "level": _NOT_BELOW_INFO, "propagate": False},
        "urllib3": {"handlers": ["console"], "level": _NOT_BELOW_INFO, "propagate": False},
        # httpx (under py-clob-client-v2) logs every request at INFO, and httpcore its headers (POLY_API_KEY,
        # POLY_PASSPHRASE) at DEBUG: warnings only.
        "httpx": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "httpcore": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- Health checks ----------------------------------------------------------
HEALTHCHECK_TIMEOUT_S = env.float("HEALTHCHECK_TIMEOUT_S", default=2.0)

# --- Production hardening -----------------------------------------------------
# Trust X-Forwarded-Proto only behind a proxy that sets it (and strips it from clients): say so explicitly.
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# The trading apps' settings: tradingsite/settings_trading.py (read after the above, which it uses).
from .settings_trading import *  # noqa: E402, F403
