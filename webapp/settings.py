"""Settings, all from the environment with safe defaults.

With no environment at all the product runs on its embedded default: SQLite in ``var/``,
media files in ``var/media``, and a Celery broker on SQLite (kombu's SQLAlchemy transport),
so no server needs installing. Production sets ``DATABASE_URL`` (PostgreSQL through
psycopg 3), ``CELERY_BROKER_URL`` (Redis) and optionally S3-compatible media storage.
See ``.env.example`` for every variable.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("ANOMALY_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _secret_key() -> str:
    """The configured key, else one generated once and kept in ``var/`` (never a default)."""
    configured = env.str("DJANGO_SECRET_KEY", default="")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "webapp.common.csrf.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "webapp.sites",
    "webapp.assets",
    "webapp.detectors",
    "webapp.review",
    "webapp.objects",
    "webapp.health",
    "webapp.dashboard",
    "webapp.hooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "webapp.common.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its response
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

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
                "webapp.health.context_processors.worker_status",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL, a busy timeout and
    # IMMEDIATE transactions turn "database is locked" into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # PostgreSQL's default random_page_cost (4) models spinning disks; 1.1 is its docs'
        # value for SSDs and cached data. With 4 the queue's pending count read the whole
        # flag table instead of the partial index of pending flags (10 ms against 20 ms
        # for 90,000 pending flags in `benchmarks/speed.py`).
        # JIT compilation pays for long analytic queries, not for a web request's: on the
        # queries that pick a site's training images it took 1.5 of 1.7 s (`jit=on`
        # there; DATABASE_JIT=on gives it back).
        cost = env.float("DATABASE_RANDOM_PAGE_COST", default=1.1)
        jit = "on" if env.bool("DATABASE_JIT", default=False) else "off"
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            f"-c random_page_cost={cost} -c jit={jit}"
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Repeated wrong passwords (login page and token endpoint alike) lock that account from that
# address for a while (django-axes); a correct password during the lockout does not get in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "webapp.common.lockout.lockout_response"
AXES_VERBOSE = False
# Content-Security-Policy (django-csp): scripts only from this origin, never inline, so
# an injected <script> cannot run even if escaping were ever missed. Inline style
# attributes stay allowed for class colours; media and images may be blob: URLs (player).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "site-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files ------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# (a blank value, as in a copied .env.example, means the default, not the current folder)
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or VAR_DIR / "staticfiles")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or VAR_DIR / "media")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing folder
MEDIA_URL = "media/"  # never served directly: asset files go through access-checked views


def s3_media_storage() -> dict:
    """Media on S3-compatible storage (AWS S3, MinIO, Ceph, ...), read from the environment.

    Every web server and worker of one deployment points at the same bucket. Credentials
    come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` or boto3's usual chain
    (instance role, ``~/.aws``). Files are private and only ever served through the
    access-checked views; a name already taken gets a fresh one, never overwritten, as on
    the local folder. The storage tests build their storage with this very function.
    """
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            # blank in a copied .env.example means "not set", not an empty endpoint
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "location": env.str("AWS_LOCATION", default=""),  # key prefix in a shared bucket
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }


MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="local") or "local"
if MEDIA_STORAGE == "s3":
    _default_storage = s3_media_storage()
elif MEDIA_STORAGE == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be 'local' or 's3', not {MEDIA_STORAGE!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Upload limits (bad input gets a clear error) --------------------------------------
MAX_UPLOAD_REQUEST_BYTES = env.int("MAX_UPLOAD_REQUEST_BYTES", default=1024**3)
MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", default=50 * 1024**2)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
MAX_ZIP_MEMBERS = env.int("MAX_ZIP_MEMBERS", default=20_000)
MAX_ZIP_TOTAL_BYTES = env.int("MAX_ZIP_TOTAL_BYTES", default=4 * 1024**3)
MAX_ZIP_RATIO = env.int("MAX_ZIP_RATIO", default=200)
# Videos: checked at upload from the container (no full decode), refused with the reason.
MAX_VIDEO_BYTES = env.int("MAX_VIDEO_BYTES", default=1024**3)
MAX_VIDEO_DURATION_S = env.float("MAX_VIDEO_DURATION_S", default=2 * 3600)
MAX_VIDEO_PIXELS = env.int("MAX_VIDEO_PIXELS", default=3840 * 2160)
MAX_VIDEO_FRAMES = env.int("MAX_VIDEO_FRAMES", default=250_000)
#: Side of the browser preview of a video (long side, pixels; WebM VP8).
VIDEO_PREVIEW_SIDE = env.int("VIDEO_PREVIEW_SIDE", default=480)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("MAX_FILES_PER_REQUEST", default=5000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2

# --- Detection -------------------------------------------------------------------------
# Weights cache shared by every var dir (tests use their own var dir, not their own weights).
os.environ.setdefault("TORCH_HOME", env.str("TORCH_HOME", default=str(BASE_DIR / "var" / "torch")))
DEFAULT_TARGET_FPR = env.float("DEFAULT_TARGET_FPR", default=0.01)
SCORING_CHUNK_SIZE = env.int("SCORING_CHUNK_SIZE", default=64)
# --- Jobs: claims, takeover, time limits, retries (webapp/common/jobs.py) ----------------
#: A running job beats a heartbeat this often, whatever it is doing (a thread).
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=5)
#: A running job whose heartbeat is older than this is taken over by any worker. On the
#: holder's own host a job is taken over at once when its process is gone.
JOB_STALE_AFTER_SECONDS = env.int("JOB_STALE_AFTER_SECONDS", default=45)
#: How often each worker's watchdog looks for jobs of dead workers (and beats its own).
JOB_WATCHDOG_SECONDS = env.float("JOB_WATCHDOG_SECONDS", default=5)
#: A job whose worker died under it more often than this is failed, not run again.
JOB_MAX_TAKEOVERS = env.int("JOB_MAX_TAKEOVERS", default=3)
#: Transient faults (database or broker away) are retried with exponential backoff.
JOB_MAX_RETRIES = env.int("JOB_MAX_RETRIES", default=6)
JOB_RETRY_BACKOFF_MAX = env.int("JOB_RETRY_BACKOFF_MAX", default=60)
# Time limits per task type, seconds (prefork pool): past the soft limit the job stops and
# is recorded failed with the reason; past the hard one its process is ended. A training
# may take hours, a scoring chunk minutes (a chunk is 64 images, or one video for the
# temporal kinds). Keep the hard training limit below CELERY_VISIBILITY_TIMEOUT.
TRAINING_SOFT_TIME_LIMIT = env.int("TRAINING_SOFT_TIME_LIMIT", default=5 * 3600)
TRAINING_TIME_LIMIT = env.int("TRAINING_TIME_LIMIT", default=TRAINING_SOFT_TIME_LIMIT + 300)
SCORING_SOFT_TIME_LIMIT = env.int("SCORING_SOFT_TIME_LIMIT", default=30 * 60)
SCORING_TIME_LIMIT = env.int("SCORING_TIME_LIMIT", default=SCORING_SOFT_TIME_LIMIT + 120)
EXTRACTION_SOFT_TIME_LIMIT = env.int("EXTRACTION_SOFT_TIME_LIMIT", default=2 * 3600)
EXTRACTION_TIME_LIMIT = env.int("EXTRACTION_TIME_LIMIT", default=EXTRACTION_SOFT_TIME_LIMIT + 300)

# --- Webhooks (webapp/hooks) ------------------------------------------------------------
#: Seconds a receiver has to answer one delivery attempt.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5)
#: Attempts before a delivery is failed (network errors, 5xx, 408 and 429 are retried),
#: waiting WEBHOOK_RETRY_BASE_SECONDS x 4^(n-1) after attempt n, at most ..._MAX_SECONDS.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600)
#: Whether hooks may post to private, loopback and link-local addresses. A self-hosted
#: install often posts to its own LAN, so yes by default; set 0 where admins of a site
#: must not reach the server's neighbours (checked at registration and on every attempt).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=True)

# --- Cache -----------------------------------------------------------------------------
# Rendered plots of versions (webapp/detectors/plots.py) are kept here. The default, a
# folder in var/, is shared by the web server's processes on one machine; several machines
# share one with CACHE_URL=redis://host:6379/1; CACHE_URL=dummycache:// turns caching off.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
#: How long a drawn plot is kept (its key changes anyway when what it shows changes).
PLOT_CACHE_SECONDS = env.int("PLOT_CACHE_SECONDS", default=7 * 24 * 3600)

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True  # job state lives on our own models
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers unacknowledged tasks after this; long GPU training needs more than 1 h.
# (Only Redis-like transports take it: the SQLAlchemy transport passes options to the engine.)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)}
    if CELERY_BROKER_URL.startswith(("redis", "rediss", "sentinel"))
    else {}
)
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- REST API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "webapp.common.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.common.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Anomaly review API",
    "DESCRIPTION": "Upload images, train novelty detectors per site, review what they flag.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: no CDN, works air-gapped.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "webapp.detectors.models.JobStatus",
        "FlagStatusEnum": "webapp.review.models.FlagStatus",
        "WebhookEventEnum": "webapp.hooks.models.WebhookEvent",
    },
}

# --- Security (production) -------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
