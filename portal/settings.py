"""Settings for Alliance Portal: one env-driven module, parsed strictly.

The embedded default needs nothing but Python: SQLite, tasks run in process, an in-memory
channel layer. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to Redis for the cache,
the channel layer and the Celery broker. ``PORTAL_ENV=production`` turns on every
production safeguard and refuses to start without a real ``SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from kernel.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from kernel.envelope import parse_key

# Django's generic classes can be subscripted at run time as the type checker reads them
# (``admin.ModelAdmin[Organization]``); DRF's classes allow it by themselves.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

PORTAL_ENV = env_choice("PORTAL_ENV", ("development", "test", "production"), "development")
PRODUCTION = PORTAL_ENV == "production"
# Off unless asked for (DEBUG=true): ``make run`` is what a first user sees, and Django's debug
# pages list every URL pattern and setting; the portal's own 403/404/500 pages serve instead.
DEBUG = env_bool("DEBUG", default=False)


def _installation_secret_key(path: Path) -> str:
    """This installation's own random key, created once in ``path`` (mode 0600).

    A key written in the code would be public, and anyone could then sign invitation links,
    sessions and password-reset tokens of every development or test installation. The key is
    written to a temporary file and linked into place, so processes starting together (the
    children of ``run_portal``) all end up with the one key that won.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set (or SECRET_KEY_FILE) in production")
    SECRET_KEY = _installation_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "tenants",
    "ledger",
    "biometrics",
    "payments",
    "webhooks",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kernel.middleware.RequestCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.TenantDatabaseContextMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "tenants.context_processors.organizations",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "portal.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Row-level security (tenants/rls.py) is a wall only against a role that owns nothing: the
# owner of a table can switch its policies and triggers off. DATABASE_URL is that application
# role; DATABASE_MIGRATE_URL, the same database as the role that owns the schema, is used only
# by `migrate` and `flush` (tenants.rls.owner_connection), which then grant the application
# role DML. Unset, one role does both (fine for development, no wall against injected SQL).
DATABASE_MIGRATE_URL = env_str("DATABASE_MIGRATE_URL")
DATABASE_OWNER: dict[str, str] | None = None
if DATABASE_MIGRATE_URL:
    if not USING_POSTGRES:
        raise ImproperlyConfigured("DATABASE_MIGRATE_URL needs DATABASE_URL to be PostgreSQL")
    _owner = dj_database_url.parse(DATABASE_MIGRATE_URL)
    for _key in ("ENGINE", "NAME", "HOST", "PORT"):
        if _owner[_key] != DATABASES["default"][_key]:
            raise ImproperlyConfigured(
                f"DATABASE_MIGRATE_URL must name the database of DATABASE_URL ({_key} differs)"
            )
    if _owner["USER"] == DATABASES["default"]["USER"]:
        raise ImproperlyConfigured("DATABASE_MIGRATE_URL must use another role than DATABASE_URL")
    DATABASE_OWNER = {"USER": _owner["USER"], "PASSWORD": _owner["PASSWORD"]}
# Row-level-security context a new database connection starts in: "system" for management
# commands, workers and the follower (they span organizations); the web entry points (asgi/wsgi)
# choose "none", and each request then enters only the organization it resolved.
PORTAL_DB_CONTEXT = env_choice("PORTAL_DB_CONTEXT", ("system", "none"), "system")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, Celery -----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "portal"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "portal")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
# Without a broker the embedded default runs tasks in process (after commit, like a worker would).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# With acks_late, a job whose worker died is redelivered once this many seconds have passed
# since it was taken (Redis transport). It must exceed the longest task; tasks are idempotent.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900)}

# --- Auth -----------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if PORTAL_ENV == "test":
    # Tests create many users; argon2 is deliberately slow. Production and development use it.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Login rate limiting: this many failures per (username, IP) within the window locks the pair out.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
INVITATION_MAX_AGE = timedelta(days=env_int("INVITATION_MAX_AGE_DAYS", 7))
# Active (unrevoked, unexpired) API tokens one member may hold in one organization.
API_TOKENS_PER_MEMBER = env_int("API_TOKENS_PER_MEMBER", 20)
if API_TOKENS_PER_MEMBER < 1:
    raise ImproperlyConfigured("API_TOKENS_PER_MEMBER must be at least 1")
# Addresses of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the ASGI server
# believes (comma-separated IPs or networks). Empty: nobody's, so a client cannot choose the
# address that login lock-out and throttling key on.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Alliance Portal <noreply@localhost>")

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise scans STATIC_ROOT at start-up; create it so a fresh checkout starts without warnings
# (collectstatic fills it in production).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
# Outside production WhiteNoise serves the files straight from STATICFILES_DIRS (no collectstatic
# needed), whatever DEBUG says: its own defaults follow DEBUG, which is off by default.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST API -------------------------------------------------------------------------------
API_THROTTLE_USER = env_str("API_THROTTLE_USER", "1000/hour")
API_THROTTLE_TOKEN = env_str("API_THROTTLE_TOKEN", "600/minute")
API_THROTTLE_ANON = env_str("API_THROTTLE_ANON", "60/minute")
# Request bodies: JSON up to API_MAX_BODY_BYTES; photo uploads up to API_MAX_UPLOAD_BYTES, which
# must hold the most photos one enrollment takes (5 of at most 10 MB each) plus the form framing.
# Both are checked on Content-Length and while reading (kernel/parsers.py): 413 beyond.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 51 * 1024 * 1024)
if API_MAX_BODY_BYTES <= 0 or API_MAX_UPLOAD_BYTES <= 0:
    raise ImproperlyConfigured("API_MAX_BODY_BYTES and API_MAX_UPLOAD_BYTES must be positive")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only by default: a body listed under three content types (JSON, form, multipart) for
    # one schema makes generated clients fail at import. Views that take a file upload opt into
    # multipart with their own parser_classes. Both parsers are the kernel's bounded ones.
    "DEFAULT_PARSER_CLASSES": ["kernel.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "kernel.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.OrderingFilter"],
    "DEFAULT_THROTTLE_CLASSES": [
        "kernel.throttling.TokenRateThrottle",
        "kernel.throttling.UserRateThrottle",
        "kernel.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": API_THROTTLE_TOKEN,
        "user": API_THROTTLE_USER,
        "anon": API_THROTTLE_ANON,
    },
    # Throttles key anonymous clients on REMOTE_ADDR, never on X-Forwarded-For, which any client
    # can send: behind TRUSTED_PROXIES the ASGI server has already put the real client there.
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "kernel.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Alliance Portal API",
    "DESCRIPTION": "Multi-tenant API of the alliance portal. Organization-scoped routes live "
    "under /api/v1/orgs/{org}/. Every error has the shape "
    '{"error": {"code", "message", "details"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrganizationStatusEnum": "tenants.models.Organization.Status",
        "RoleEnum": "tenants.roles.Role",
        "SubjectStatusEnum": "biometrics.models.Subject.Status",
        "EnrollmentStatusEnum": "biometrics.models.Enrollment.Status",
    },
    # Swagger UI assets come from the drf-spectacular-sidecar package and are served locally.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Webhooks -------------------------------------------------------------------------------
# Webhooks: endpoint URLs must resolve to public addresses unless this is on (tests and a local
# demo deliver to 127.0.0.1); the request timeout (seconds) and how long a rotated secret keeps
# signing (seconds).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", default=PORTAL_ENV == "test")
WEBHOOKS_TIMEOUT = env_float("WEBHOOKS_TIMEOUT", 10.0)
WEBHOOKS_SECRET_OVERLAP = env_int("WEBHOOKS_SECRET_OVERLAP", 24 * 3600)

# --- Ledger ---------------------------------------------------------------------------------
LEDGER_BLS_BACKEND = env_choice("LEDGER_BLS_BACKEND", ("auto", "py_ecc", "blst"), "auto")
# Validators' node API base URLs (comma-separated), tried in order; each must be http(s).
LEDGER_NODE_URLS = [url.rstrip("/") for url in env_list("LEDGER_NODE_URLS", [])]
for _url in LEDGER_NODE_URLS:
    if urlsplit(_url).scheme not in ("http", "https") or not urlsplit(_url).hostname:
        raise ImproperlyConfigured(f"LEDGER_NODE_URLS entry {_url!r} is not an http(s) URL")
# The devnet's (or the alliance's) genesis.json; without it the follower pins /v1/genesis of the
# first node it reaches, so set it in production.
LEDGER_GENESIS_FILE = env_str("LEDGER_GENESIS_FILE") or None
# Wraps every organization's Ed25519 signing key: 32 bytes as 64 hex digits or base64 (checked
# here so a malformed key stops the start). Required in production; elsewhere ledger/keys.py
# derives a development key from SECRET_KEY.
LEDGER_KEY_ENCRYPTION_KEY = env_str("LEDGER_KEY_ENCRYPTION_KEY") or None
if LEDGER_KEY_ENCRYPTION_KEY:
    parse_key(LEDGER_KEY_ENCRYPTION_KEY, setting="LEDGER_KEY_ENCRYPTION_KEY")
LEDGER_HTTP_TIMEOUT = env_float("LEDGER_HTTP_TIMEOUT", 5.0)
if LEDGER_HTTP_TIMEOUT <= 0:
    raise ImproperlyConfigured("LEDGER_HTTP_TIMEOUT must be a positive number of seconds")
LEDGER_STATUS_CACHE_SECONDS = env_float("LEDGER_STATUS_CACHE_SECONDS", 3.0)
if LEDGER_STATUS_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("LEDGER_STATUS_CACHE_SECONDS must not be negative")

# --- Biometrics -----------------------------------------------------------------------------
BIOMETRICS_SYNC_TIMEOUT = env_float("BIOMETRICS_SYNC_TIMEOUT", 10.0)
# Key-encryption key wrapping every subject's template key: 32 bytes as 64 hex digits or base64
# (checked here). Required in production; elsewhere biometrics/crypto.py derives a development
# key from SECRET_KEY.
BIOMETRICS_KEK = env_str("BIOMETRICS_KEK") or None
if BIOMETRICS_KEK:
    parse_key(BIOMETRICS_KEK, setting="BIOMETRICS_KEK")
DEEPFACE_HOME = env_str("DEEPFACE_HOME", str(VAR_DIR / "deepface"))

# --- Service requirements for tests ---------------------------------------------------------
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
