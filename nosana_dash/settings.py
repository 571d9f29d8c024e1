"""Settings for nosana-dash, all from environment variables.

The defaults are the embedded run: SQLite, the in-memory channel layer, the
local network, no wallet and no internet. `DATABASE_URL` and `REDIS_URL` switch
to PostgreSQL and Redis; `NOSANA_DASH_PROFILE=production` hardens the rest.
Every variable is listed, with its default, in the README's settings table.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("NOSANA_DASH_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """Use the configured key; otherwise keep a generated one in the var folder."""
    configured = env_str("NOSANA_DASH_SECRET_KEY")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


PROFILE = env_str("NOSANA_DASH_PROFILE", "embedded")  # embedded | production
PRODUCTION = PROFILE == "production"

SECRET_KEY = _secret_key()
DEBUG = env_bool("NOSANA_DASH_DEBUG", False)
ALLOWED_HOSTS = env_list("NOSANA_DASH_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("NOSANA_DASH_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "csp",
    "nosana_dash.network.local.apps.LocalNetworkConfig",
    "jobs",
    "markets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "nosana_dash.urls"
ASGI_APPLICATION = "nosana_dash.asgi.application"
WSGI_APPLICATION = None

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
                "nosana_dash.context_processors.dashboard",
            ],
        },
    }
]

# SQLite for the embedded run; DATABASE_URL (postgres://…) for everything else.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))}
    if env_str("NOSANA_DASH_TEST_DB"):  # lets parallel test runs use separate test databases
        DATABASES["default"]["TEST"] = {"NAME": env_str("NOSANA_DASH_TEST_DB")}
    # Under ASGI every request runs its sync view in a fresh thread, so CONN_MAX_AGE > 0 keeps one
    # idle connection per dead thread (a leak) and CONN_MAX_AGE = 0 forks a PostgreSQL backend per
    # request. A process-wide psycopg pool (Django >= 5.1) hands connections back on request end
    # and reuses them. DATABASE_POOL=0 turns it off; it requires DATABASE_CONN_MAX_AGE=0.
    # DATABASE_POOL_MAX_SIZE bounds the connections one web process holds.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True) \
            and not DATABASES["default"].get("CONN_MAX_AGE"):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10),
            "timeout": env_int("DATABASE_POOL_TIMEOUT_SECONDS", 10),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("NOSANA_DASH_SQLITE_PATH", str(VAR_DIR / "nosana-dash.sqlite3")),
            # The embedded worker writes while pages read: WAL and a busy timeout keep both moving.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Redis pub/sub: the server pushes each message to every subscribed process over one connection,
    # where the list-based layer took two round trips per message per receiver (a cleanup script and
    # a blocking pop), each waiting for a turn of a busy event loop: under 200 viewers the job's
    # batches queued in Redis for seconds. Pub/sub delivers at most once; a viewer that misses a
    # batch sees the gap and reads it from the database, as it does after any reconnect.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("NOSANA_DASH_CHANNEL_PREFIX", "nosana-dash"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

# The cache holds rate-limit counters; Redis shares them between web processes.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": env_str("NOSANA_DASH_CHANNEL_PREFIX", "nosana-dash")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Rendered markets/nodes tables, keyed by the version of the data they show (markets.views): a
# per-process cache stays coherent (new data is a new key) and spares moving ~60 KB through Redis.
_PAGE_CACHE: dict[str, Any] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "nosana-dash-pages",
    "OPTIONS": {"MAX_ENTRIES": env_int("NOSANA_PAGE_CACHE_ENTRIES", 500)},
}
CACHES["pages"] = _PAGE_CACHE
NOSANA_LOGIN_ATTEMPTS = env_int("NOSANA_LOGIN_ATTEMPTS", 10)
NOSANA_LOGIN_WINDOW_SECONDS = env_int("NOSANA_LOGIN_WINDOW_SECONDS", 300)
NOSANA_POSTS_PER_MINUTE = env_int("NOSANA_POSTS_PER_MINUTE", 30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("NOSANA_DASH_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from finders; the folder only has to exist
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Security: strict everywhere, stricter in production.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("NOSANA_DASH_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("NOSANA_DASH_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Scripts and styles come from static files only: no inline code anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "nosana_dash.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if PRODUCTION else "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("NOSANA_DASH_LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

# --- nosana-dash ---------------------------------------------------------------
NOSANA_DEFAULT_NETWORK = env_str("NOSANA_NETWORK", "local")  # local | devnet | mainnet
NOSANA_RPC_URL_DEVNET = env_str("NOSANA_RPC_URL_DEVNET")
NOSANA_RPC_URL_MAINNET = env_str("NOSANA_RPC_URL_MAINNET")
NOSANA_KEYPAIR_PATH = env_str("NOSANA_KEYPAIR_PATH", str(Path.home() / ".nosana" / "nosana_key.json"))
NOSANA_PINNING_URL = env_str("NOSANA_PINNING_URL", "https://api.pinata.cloud")
NOSANA_PINNING_JWT = env_str("NOSANA_PINNING_JWT")
NOSANA_IPFS_GATEWAY = env_str("NOSANA_IPFS_GATEWAY", "https://nosana.mypinata.cloud/ipfs/")
NOSANA_PRIORITY_FEE_MICROLAMPORTS = env_int("NOSANA_PRIORITY_FEE_MICROLAMPORTS", 10000)
NOSANA_NETWORK_TIMEOUT_SECONDS = float(env_str("NOSANA_NETWORK_TIMEOUT_SECONDS", "15"))
NOSANA_CAP_PER_JOB_NOS = Decimal(env_str("NOSANA_CAP_PER_JOB_NOS", "50"))
NOSANA_CAP_PER_DAY_NOS = Decimal(env_str("NOSANA_CAP_PER_DAY_NOS", "200"))
NOSANA_PRICE_SOURCE_URL = env_str("NOSANA_PRICE_SOURCE_URL")  # empty: no USD prices

# Limits on what users send.
NOSANA_MAX_UPLOAD_BYTES = env_int("NOSANA_MAX_UPLOAD_BYTES", 1_000_000)
NOSANA_MAX_JSON_DEPTH = env_int("NOSANA_MAX_JSON_DEPTH", 64)
NOSANA_MAX_OPS = env_int("NOSANA_MAX_OPS", 200)
DATA_UPLOAD_MAX_MEMORY_SIZE = NOSANA_MAX_UPLOAD_BYTES + 256_000
# The composer posts every field of every op (about 30 each): room for NOSANA_MAX_OPS of them.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, NOSANA_MAX_OPS * 60)

# Local network: container engine, workers, logs.
DOCKER_HOST = env_str("DOCKER_HOST")
NOSANA_EMBEDDED_WORKER = env_bool("NOSANA_EMBEDDED_WORKER", False)
NOSANA_WORKER_LEASE_SECONDS = env_int("NOSANA_WORKER_LEASE_SECONDS", 30)
NOSANA_WORKER_POLL_SECONDS = float(env_str("NOSANA_WORKER_POLL_SECONDS", "1"))
NOSANA_LOCAL_SANDBOX = env_str("NOSANA_LOCAL_SANDBOX", "auto")  # auto | engine | bubblewrap
# Images that are neither here nor pullable: run the job in bubblewrap (said plainly) instead of failing.
NOSANA_LOCAL_IMAGE_FALLBACK = env_bool("NOSANA_LOCAL_IMAGE_FALLBACK", False)
NOSANA_MARKET_SYNC_SECONDS = env_int("NOSANA_MARKET_SYNC_SECONDS", 300)
NOSANA_DASH_METRICS_TOKEN = env_str("NOSANA_DASH_METRICS_TOKEN")  # empty: /metrics is open

# Where this dashboard is reached: `manage.py job post/get` print local job links under it.
NOSANA_DASH_BASE_URL = env_str("NOSANA_DASH_BASE_URL", "http://127.0.0.1:8000")
