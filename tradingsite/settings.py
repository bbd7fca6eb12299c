"""Settings for tradingsite, driven by environment variables.

Defaults suit a local machine (PostgreSQL and Redis on loopback, DEBUG on).
With DEBUG=False production hardening switches on and a SECRET_KEY is required.
"""

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
    "dashboard",
]

MIDDLEWARE = [
    "core.middleware.OutageMiddleware",  # first: a lost PostgreSQL or Redis is a 503, never a 500
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

# --- Paper venue ----------------------------------------------------------------
PAPER_EXCHANGE_INFO = Path(
    env.str("PAPER_EXCHANGE_INFO", default=str(SHARED_DATA_DIR / "binance" / "exchange_info_2020-10-09.json"))
)
PAPER_TICKERS = Path(env.str("PAPER_TICKERS", default=str(SHARED_DATA_DIR / "binance" / "ticker_24hr_2020-10-09.json")))
PAPER_DEPTH_PROFILE = Path(
    env.str("PAPER_DEPTH_PROFILE", default=str(SHARED_DATA_DIR / "binance" / "depth" / "btcusdt_20240808.gz"))
)
SIMULATOR_MISPRICING_RATE = env.float("SIMULATOR_MISPRICING_RATE", default=2.0)  # a minute, on the paper venue
PAPER_BOOK_MAX_AGE_MS = env.int("PAPER_BOOK_MAX_AGE_MS", default=5000)
PAPER_FAULTS_CACHE_S = env.float("PAPER_FAULTS_CACHE_S", default=1.0)
PAPER_STARTING_BALANCES = env.dict("PAPER_STARTING_BALANCES", default={"USDT": "10000"})

# --- Market-data feeds (run_feed) ---------------------------------------------------
# A real venue's book is read from the feed's snapshot while it is this fresh, else asked for over REST.
FEED_BOOK_MAX_AGE_MS = env.int("FEED_BOOK_MAX_AGE_MS", default=2000)
# While an account's user-data stream pushes its fills, its orders are polled only this often (a safety net);
# the stream's liveness key lasts this long without a refresh (a dead stream process is noticed by then).
USER_STREAM_SAFETY_POLL_MS = env.int("USER_STREAM_SAFETY_POLL_MS", default=30_000)
USER_STREAM_ALIVE_TTL_S = env.int("USER_STREAM_ALIVE_TTL_S", default=5)

# --- Venue guards (shared by every process through Redis) ---------------------
VENUE_RATE_CAPACITY = env.float("VENUE_RATE_CAPACITY", default=6000.0)  # request weight a minute
VENUE_BREAKER_THRESHOLD = env.int("VENUE_BREAKER_THRESHOLD", default=5)
VENUE_BREAKER_COOLDOWN_S = env.float("VENUE_BREAKER_COOLDOWN_S", default=30.0)
VENUE_CONNECT_TIMEOUT_S = env.float("VENUE_CONNECT_TIMEOUT_S", default=8.0)
VENUE_READ_TIMEOUT_S = env.float("VENUE_READ_TIMEOUT_S", default=18.0)
VENUE_POOL_SIZE = env.int("VENUE_POOL_SIZE", default=10)
# A process reuses its venue object (session, loaded markets) this long before rebuilding it.
VENUE_INSTANCE_TTL_S = env.float("VENUE_INSTANCE_TTL_S", default=60.0)

# --- Orders -------------------------------------------------------------------
# Client order ids are "<prefix>-<intent>-a<attempt>"; give each deployment
# sharing a venue account its own prefix.
ORDER_CLIENT_ID_PREFIX = env.str("ORDER_CLIENT_ID_PREFIX", default="ts")
# An UNKNOWN order is declared "not placed" only after this many lookups found
# nothing and this long after submission: longer than the venue's receive
# window (Binance refuses requests older than recvWindow, 5 s by default).
ORDER_UNKNOWN_MIN_MISSES = env.int("ORDER_UNKNOWN_MIN_MISSES", default=3)
ORDER_UNKNOWN_GRACE_S = env.float("ORDER_UNKNOWN_GRACE_S", default=10.0)
# A PENDING_SUBMIT row this old lost its placing worker mid-call: it becomes UNKNOWN.
ORDER_SUBMIT_STALE_S = env.float("ORDER_SUBMIT_STALE_S", default=VENUE_CONNECT_TIMEOUT_S + VENUE_READ_TIMEOUT_S + 4)
# Orders claimed by a monitor tick are leased this long; a tick that dies is retried by the sweeper after it.
ORDER_MONITOR_LEASE_S = env.float("ORDER_MONITOR_LEASE_S", default=30.0)
# The sweeper re-dispatches orders whose check is this much overdue (their task was lost).
ORDER_SWEEP_GRACE_S = env.float("ORDER_SWEEP_GRACE_S", default=2.0)

# --- Write-behind buffer ----------------------------------------------------------
WRITEBEHIND_FLUSH_S = env.float("WRITEBEHIND_FLUSH_S", default=1.0)


# --- Cycles and panic sells ----------------------------------------------------
# The scanner places a new cycle's first leg itself (no queue hop) instead of the worker. Off by default: on two
# cores it lowered tick_to_first_order p50 (54-66 ms against 80) but raised p99 (618-1460 ms against 199), the
# scanner blocked while it places (bench/run.py cycles --parts tick).
SCANNER_PLACES_FIRST_LEG = env.bool("SCANNER_PLACES_FIRST_LEG", default=False)
# A buy leg is sized this far under what we hold, so a small move between sizing and filling still fits.
CYCLE_BUY_BUFFER_BPS = env.int("CYCLE_BUY_BUFFER_BPS", default=10)
CYCLE_LEG_MAX_ATTEMPTS = env.int("CYCLE_LEG_MAX_ATTEMPTS", default=3)  # a partly filled leg places its rest again
# Recovery (cycles/recovery.py): a cycle not started this long after it was opened is canceled, not resumed;
# the beat sweep treats an open cycle with no live order as interrupted once it has not moved for RECOVERY_STALL_S.
CYCLE_RESUME_MAX_AGE_S = env.float("CYCLE_RESUME_MAX_AGE_S", default=30.0)
RECOVERY_STALL_S = env.float("RECOVERY_STALL_S", default=20.0)
RECOVERY_SWEEP_S = env.float("RECOVERY_SWEEP_S", default=15.0)

# --- Positions (positions/rules.py Tiers): check intervals by urgency, and what makes a position urgent -------
POSITION_TIERS = {
    "critical_s": env.float("POSITION_TIER_CRITICAL_S", default=2.0),
    "active_s": env.float("POSITION_TIER_ACTIVE_S", default=5.0),
    "standard_s": env.float("POSITION_TIER_STANDARD_S", default=12.0),
    "inactive_s": env.float("POSITION_TIER_INACTIVE_S", default=30.0),
    "idle_s": env.float("POSITION_TIER_IDLE_S", default=60.0),
    "near_trigger_bps": env.float("POSITION_NEAR_TRIGGER_BPS", default=50.0),
    "breakeven_critical_s": env.float("POSITION_BREAKEVEN_CRITICAL_S", default=60.0),
    "inactive_closed_fraction": env.float("POSITION_INACTIVE_CLOSED_FRACTION", default=0.9),
    "idle_after_s": env.float("POSITION_IDLE_AFTER_S", default=600.0),
}
# API read cache (tradingsite/apicache.py): seconds an answer of each kind may be served from Redis.
API_CACHE_TTLS = {
    "account": env.int("API_CACHE_ACCOUNT_S", default=60),
    "positions": env.int("API_CACHE_POSITIONS_S", default=15),
    "orders": env.int("API_CACHE_ORDERS_S", default=15),
    "stats": env.int("API_CACHE_STATS_S", default=300),
    "market_data": env.int("API_CACHE_MARKET_DATA_S", default=180),
}
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=1000)
API_MAX_OFFSET = env.int("API_MAX_OFFSET", default=10_000_000)
API_CACHE_MAX_KEYS = env.int("API_CACHE_MAX_KEYS", default=2000)  # answers one kind keeps at most
# --- Wallets (copy trading) --------------------------------------------------------------
WALLET_SOURCES_PORT = env.int("WALLET_SOURCES_PORT", default=8765)  # the demo's simulated sources
WALLET_TRADE_EVERY_S = env.float("WALLET_TRADE_EVERY_S", default=30.0)  # the demo: mean seconds between fills
POLYMARKET_DATA_API_URL = env.str("POLYMARKET_DATA_API_URL", default="https://data-api.polymarket.com")
ETHERSCAN_API_URL = env.str("ETHERSCAN_API_URL", default="https://api.etherscan.io/v2/api")
ETHERSCAN_API_KEY = env.str("ETHERSCAN_API_KEY", default="")
ETHERSCAN_CHAIN_ID = env.int("ETHERSCAN_CHAIN_ID", default=137)  # Polygon
WALLET_SOURCE_RATE_PER_S = {
    "polymarket": env.float("POLYMARKET_RATE_PER_S", default=5.0),
    "etherscan": env.float("ETHERSCAN_RATE_PER_S", default=3.0),  # the free tier's 3 calls a second
}
# One scan reads at most this many pages and bytes; a wallet with more waiting goes on from there next scan.
WALLET_SCAN_MAX_PAGES = env.int("WALLET_SCAN_MAX_PAGES", default=40)
WALLET_SCAN_MAX_BYTES = env.int("WALLET_SCAN_MAX_BYTES", default=16 * 1024 * 1024)
WALLET_SOURCE_RETRY_AFTER_CAP_S = env.float("WALLET_SOURCE_RETRY_AFTER_CAP_S", default=300.0)
POLYMARKET_OVERLAP_S = env.int("POLYMARKET_OVERLAP_S", default=60)  # re-read for indexer lag
ETHERSCAN_OVERLAP_BLOCKS = env.int("ETHERSCAN_OVERLAP_BLOCKS", default=30)  # re-read for reorgs and lag
POLYMARKET_TOKEN_DECIMALS = 6  # outcome tokens and USDC both have 6 decimals
POLYGON_USDC_CONTRACTS = env.list("POLYGON_USDC_CONTRACTS", default=[
    "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",  # USDC.e, Polymarket's collateral until CLOB V2
    "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",  # native USDC
])  # fmt: skip
# CLOB V2 went live on 2026-04-28 (docs.polymarket.com/v2-migration; the cutover was announced for about 11:00 UTC
# with an hour of downtime): fills from then on settle in pUSD (6 decimals), before it in USDC.e or native USDC.
# The wallet stream (manage.py run_wallet_stream): a Polygon node's websocket (empty: no stream, polling only).
POLYGON_WS_URL = env.str("POLYGON_WS_URL", default="")
WALLET_STREAM_REFRESH_S = env.float("WALLET_STREAM_REFRESH_S", default=5.0)  # the watched set is re-read this often
WALLET_STREAM_CALL_TIMEOUT_S = env.float("WALLET_STREAM_CALL_TIMEOUT_S", default=10.0)
POLYGON_PUSD_CONTRACT = env.str("POLYGON_PUSD_CONTRACT", default="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB")
POLYMARKET_V2_CUTOVER_TS = env.int("POLYMARKET_V2_CUTOVER_TS", default=1777374000)  # 2026-04-28T11:00:00Z
# Scan intervals by activity: a wallet that traded within WALLET_ACTIVE_WINDOW_S is active, within
# WALLET_QUIET_WINDOW_S quiet, otherwise idle.
WALLET_SCAN_ACTIVE_S = env.float("WALLET_SCAN_ACTIVE_S", default=1.0)
WALLET_SCAN_QUIET_S = env.float("WALLET_SCAN_QUIET_S", default=15.0)
WALLET_SCAN_IDLE_S = env.float("WALLET_SCAN_IDLE_S", default=60.0)
WALLET_ACTIVE_WINDOW_S = env.float("WALLET_ACTIVE_WINDOW_S", default=600.0)
WALLET_QUIET_WINDOW_S = env.float("WALLET_QUIET_WINDOW_S", default=86400.0)
WALLET_TICK_S = env.float("WALLET_TICK_S", default=0.5)  # how often beat claims due wallets
WALLET_SCAN_BATCH = env.int("WALLET_SCAN_BATCH", default=25)  # wallets one tick claims and scans
WALLET_SCAN_LEASE_S = env.float("WALLET_SCAN_LEASE_S", default=60.0)  # a claimed wallet is not claimed again meanwhile
WALLET_MARKET_CACHE_SIZE = env.int("WALLET_MARKET_CACHE_SIZE", default=4096)  # market metadata lookups kept (LRU)
WALLET_MARKET_CACHE_TTL_S = env.float("WALLET_MARKET_CACHE_TTL_S", default=300.0)
COPY_CONCURRENCY = env.int("COPY_CONCURRENCY", default=10)  # copies being placed at once, across all workers
COPY_SLOT_LEASE_S = env.float("COPY_SLOT_LEASE_S", default=60.0)  # a slot a dead worker held frees itself after this
COPY_MAX_AGE_S = env.float("COPY_MAX_AGE_S", default=300.0)  # a fill detected later than this is not copied
COPY_PENDING_RETRY_S = env.float("COPY_PENDING_RETRY_S", default=30.0)  # a copy still pending is sent again after this

# The asset the dashboard and /api/accounts/ value balances in (direct market, or through one intermediate).
DASHBOARD_VALUATION_ASSET = env.str("DASHBOARD_VALUATION_ASSET", default="USDT")
POSITION_TICK_S = env.float("POSITION_TICK_S", default=1.0)  # how often beat claims due positions
POSITION_LEASE_S = env.float("POSITION_LEASE_S", default=15.0)  # a claimed position is not claimed again meanwhile
POSITION_EVENT_FLUSH_S = env.float("POSITION_EVENT_FLUSH_S", default=30.0)  # non-critical events, at the latest
PANIC_BASE_CURRENCIES = env.list("PANIC_BASE_CURRENCIES", default=["USDT", "USDC"])  # a balance sell's default
PANIC_MAX_HOPS = env.int("PANIC_MAX_HOPS", default=4)
PANIC_MAX_SLIPPAGE_BPS = env.int("PANIC_MAX_SLIPPAGE_BPS", default=250)
# In volatile markets the slippage tolerance widens by K bps per bp of the held asset's median spread, up to the cap.
PANIC_VOLATILITY_K = env.float("PANIC_VOLATILITY_K", default=2.0)
PANIC_SLIPPAGE_CAP_BPS = env.float("PANIC_SLIPPAGE_CAP_BPS", default=1000.0)
PANIC_MAX_FAILED_HOPS = env.int("PANIC_MAX_FAILED_HOPS", default=5)
