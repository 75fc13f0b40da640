"""Loupe's settings: everything from the environment, with an embedded default that needs no server."""
from datetime import timedelta

from config.egress import EgressPolicy
from config.env import BASE_DIR, LOUPE_ENV, env

VAR_DIR = env.path("LOUPE_VAR_DIR", default=str(BASE_DIR / "var"))
VAR_DIR = type(BASE_DIR)(str(VAR_DIR))
VAR_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = LOUPE_ENV == "production"

# No default in production: a missing key must stop the server, not fall back to a known one.
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="loupe-insecure-key-for-the-demo-and-tests-only")

DEBUG = env.bool("DEBUG", default=LOUPE_ENV == "local")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our own static files (no CDN offline)
    "django_htmx",
    "django_celery_results",
    "axes",
    "accounts",
    "annotation",
    "modeling",
    "evaluation",
    "exports",
    "system_benchmarks",
    "studies",
    "crowd",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",  # config/csp.py: the policy every page passes
    "config.uploads.RequestBodyLimitMiddleware",  # config/uploads.py: too large a body is refused before it is read
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Brute-force protection (django-axes): after LOUPE_LOGIN_FAILURE_LIMIT failed logins for one account, or from one
# address, that account or address is locked for LOUPE_LOGIN_LOCKOUT_MINUTES, on the login page and the token API
# alike. An administrator lifts a lockout in the admin (Axes > Access attempts) or with `manage.py axes_reset_username`
# / `axes_reset_ip`. Behind a proxy, LOUPE_TRUSTED_PROXY_COUNT says how many X-Forwarded-For hops to trust.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOUPE_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOUPE_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"
AXES_VERBOSE = False
LOUPE_TRUSTED_PROXY_COUNT = env.int("LOUPE_TRUSTED_PROXY_COUNT", default=0)
# Crowd entry links (crowd/views.py): at most this many entries per client address per window, so that one
# address cannot mint participant accounts in bulk (counted in the cache: CACHE_URL below).
LOUPE_CROWD_ENTRY_LIMIT = env.int("LOUPE_CROWD_ENTRY_LIMIT", default=30)
LOUPE_CROWD_ENTRY_WINDOW_SECONDS = env.int("LOUPE_CROWD_ENTRY_WINDOW_SECONDS", default=600)
# The cache holds the crowd entry counts and the pair-refill debounce (modeling/selection/tasks.py). Local memory,
# the default, counts per process; with several web processes set CACHE_URL to a Redis database of its own (e.g.
# redis://127.0.0.1:6379/1: clearing the cache empties that database, so never the broker's).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'loupe.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web app and the worker write at once: WAL lets readers go on, IMMEDIATE avoids
    # upgrade deadlocks, and the timeout waits for a writer instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a worker process can open the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-loupe.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if LOUPE_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise expects it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Media is never served as public static files: images go through permission-checked views.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"

# Uploads: Django spools big files to disk; our own limits are checked per file in the import service.
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LOUPE_MAX_IMAGE_BYTES = env.int("LOUPE_MAX_IMAGE_BYTES", default=50 * 1024 * 1024)
LOUPE_MAX_IMAGE_PIXELS = env.int("LOUPE_MAX_IMAGE_PIXELS", default=64_000_000)
LOUPE_MAX_ZIP_BYTES = env.int("LOUPE_MAX_ZIP_BYTES", default=2 * 1024 * 1024 * 1024)
# The largest request body any page accepts (an import of many files or zips); views with uploads of their own
# kind accept less (config/uploads.py). Checked on the declared length, before the body is read.
LOUPE_MAX_REQUEST_BYTES = env.int("LOUPE_MAX_REQUEST_BYTES", default=LOUPE_MAX_ZIP_BYTES + 64 * 1024 * 1024)
LOUPE_THUMBNAIL_SIZE = env.int("LOUPE_THUMBNAIL_SIZE", default=256)
# Scaling reruns after this many new pair or rating judgements in a project (0: only on request).
LOUPE_SCALE_EVERY = env.int("LOUPE_SCALE_EVERY", default=20)

# The critic (issue 8). The base checkpoint is a local directory (never a hub download); empty: a tiny
# random critic is built under $LOUPE_VAR_DIR/critic/tiny-base-384px on first use (`manage.py critic_init`), which
# trains on CPU in minutes. Artifacts (adapters, judgement snapshots) go under LOUPE_CRITIC_DIR, which the
# web app and the `gpu` workers must share, like MEDIA_ROOT.
LOUPE_CRITIC_BASE_DIR = env.str("LOUPE_CRITIC_BASE_DIR", default="")
LOUPE_CRITIC_DIR = env.path("LOUPE_CRITIC_DIR", default=str(VAR_DIR / "critic"))
# Retrain a project's critic after this many new usable judgements (0: only when a researcher asks).
LOUPE_CRITIC_RETRAIN_EVERY = env.int("LOUPE_CRITIC_RETRAIN_EVERY", default=0)
# Scoring a pool is split into chunks of this many images, one `gpu` task each (modeling.critic.pool_scoring),
# so every `gpu` worker takes a share; a chunk that fails is retried alone after LOUPE_CRITIC_SCORE_RETRY_S
# seconds, at most LOUPE_CRITIC_SCORE_RETRIES times.
LOUPE_CRITIC_SCORE_CHUNK = env.int("LOUPE_CRITIC_SCORE_CHUNK", default=256)
LOUPE_CRITIC_SCORE_RETRY_S = env.float("LOUPE_CRITIC_SCORE_RETRY_S", default=30.0)
LOUPE_CRITIC_SCORE_RETRIES = env.int("LOUPE_CRITIC_SCORE_RETRIES", default=2)
# A critic's study answers and benchmark calls are split the same way, in chunks of this many items or calls.
LOUPE_CRITIC_ANSWER_CHUNK = env.int("LOUPE_CRITIC_ANSWER_CHUNK", default=32)
# A chunk that began over LOUPE_CHUNK_LOST_AFTER_S ago and never ended lost its worker (its task's time limit is
# 65 minutes): the sweep sends it again, at most LOUPE_CHUNK_REQUEUES times, then fails the run (config/chunks.py).
LOUPE_CHUNK_LOST_AFTER_S = env.int("LOUPE_CHUNK_LOST_AFTER_S", default=2 * 3600)
LOUPE_CHUNK_REQUEUES = env.int("LOUPE_CHUNK_REQUEUES", default=2)
# A chunk never begun this long after its run was planned is taken for lost too (its message gone from the broker).
LOUPE_CHUNK_QUEUED_LOST_AFTER_S = env.int("LOUPE_CHUNK_QUEUED_LOST_AFTER_S", default=24 * 3600)
# General-purpose instruction data (paper 001's D3): LLaVA-style JSON files with their images, placed here by an
# administrator; a retrain may name a file under this folder (nothing is downloaded). Empty: the option is off.
LOUPE_GENERAL_DATA_DIR = env.str("LOUPE_GENERAL_DATA_DIR", default="")
# A researcher may also upload it as a zip on the Critic page (stored under MEDIA_ROOT); larger zips are refused.
LOUPE_GENERAL_UPLOAD_MAX_MB = env.int("LOUPE_GENERAL_UPLOAD_MAX_MB", default=200)
# Processes a `gpu` worker trains one version with: 1 (in the worker's own process), a number, or "all" (one per GPU
# of the host, started through torchrun with DDP). A version's `distributed.processes` overrides it.
LOUPE_CRITIC_TRAIN_PROCESSES = env.str("LOUPE_CRITIC_TRAIN_PROCESSES", default="1")

# The language model that drafts paragraphs and question-answer data (issue 5): OpenAI or any
# OpenAI-compatible server (vLLM, Ollama, LM Studio). With no key, the offline template drafter
# writes the drafts (labelled as such), so the demo needs no network. A local server that needs
# no key still needs a placeholder here (any non-empty text) to be used.
LOUPE_LLM_BASE_URL = env.str("LOUPE_LLM_BASE_URL", default="https://api.openai.com/v1")
LOUPE_LLM_MODEL = env.str("LOUPE_LLM_MODEL", default="gpt-4o-mini")
LOUPE_LLM_API_KEY = env.str("LOUPE_LLM_API_KEY", default="")
LOUPE_LLM_TIMEOUT_S = env.float("LOUPE_LLM_TIMEOUT_S", default=60.0)
LOUPE_LLM_MAX_RETRIES = env.int("LOUPE_LLM_MAX_RETRIES", default=3)
# Per project and per worker process (0: no local limit; the server's 429s are still honoured).
LOUPE_LLM_REQUESTS_PER_MINUTE = env.float("LOUPE_LLM_REQUESTS_PER_MINUTE", default=60.0)
# What a million tokens cost, for the usage page (0: not counted).
LOUPE_LLM_PROMPT_PRICE_PER_MILLION = env.float("LOUPE_LLM_PROMPT_PRICE_PER_MILLION", default=0.0)
LOUPE_LLM_COMPLETION_PRICE_PER_MILLION = env.float("LOUPE_LLM_COMPLETION_PRICE_PER_MILLION", default=0.0)

# Endpoints a researcher configures (study systems, system benchmarks) are called by the worker only under the
# administrator's policy in config/egress.py: keys by registered name (`name=VARIABLE@host`, comma-separated),
# hosts from an allow-list (the LLM server and credential hosts are always on it), private networks refused
# unless listed as CIDRs here.
LOUPE_ENDPOINT_CREDENTIALS = env.str("LOUPE_ENDPOINT_CREDENTIALS", default="")
LOUPE_ENDPOINT_ALLOWED_HOSTS = env.str("LOUPE_ENDPOINT_ALLOWED_HOSTS", default="")
LOUPE_ENDPOINT_PRIVATE_NETWORKS = env.str("LOUPE_ENDPOINT_PRIVATE_NETWORKS", default="")
EgressPolicy.from_config(  # a malformed entry stops the start, with the entry named
    credentials=LOUPE_ENDPOINT_CREDENTIALS, allowed_hosts=LOUPE_ENDPOINT_ALLOWED_HOSTS,
    private_networks=LOUPE_ENDPOINT_PRIVATE_NETWORKS, llm_base_url=LOUPE_LLM_BASE_URL,
)

REST_FRAMEWORK = {
    # Token first: an unauthenticated call gets 401 with `WWW-Authenticate: Token` (DRF takes the header from the
    # first class; session authentication has none, which would make it 403). Sessions still need CSRF on writes.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Default deny: every API view names its own permission classes on top of this.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.LoupeAutoSchema",
    # One error body everywhere: {"code", "detail"}, plus "errors" for invalid input (config/api.py).
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
# API tokens (accounts/tokens.py) are refused this long after they were issued; signing out, or deactivating the
# account, revokes them at once.
LOUPE_API_TOKEN_TTL_HOURS = env.float("LOUPE_API_TOKEN_TTL_HOURS", default=24 * 7)
# The OpenAPI schema at /api/schema/ and its docs page at /api/docs/, for signed-in users.
SPECTACULAR_SETTINGS = {
    "TITLE": "Loupe API",
    "DESCRIPTION": (
        "Projects, images and imports (researchers); assignments, judgements and training (annotators); "
        "settings, gold items, progress and judgements (researchers). Token auth: `Authorization: Token <key>` "
        "(POST /api/auth/token/); session auth needs the CSRF token on writes."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    # No validator badge: it would send the schema's URL to validator.swagger.io (the docs load nothing from outside).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "DEFAULT_GENERATOR_CLASS": "config.api_schema.LoupeSchemaGenerator",
    "ENUM_NAME_OVERRIDES": {
        "TaskKindEnum": "annotation.vocabulary.TaskKind",
        "TextRevisionStatusEnum": "annotation.models.TextRevision.Status",
        "VQAItemStatusEnum": "modeling.assist.models.VQAItem.Status",
        "VQAItemKindEnum": "modeling.assist.models.VQAItem.Kind",
    },
}

# Celery. The default broker is kombu's filesystem transport under var/: no server to run.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # the filesystem transport, writing messages atomically
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": env.float("CELERY_POLLING_INTERVAL", default=0.2),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message (acks_late) to another worker after this long: above the longest
    # task's time_limit (12 h training + 5 min; tests/test_settings.py checks every task), so a task still
    # running is never delivered twice. A run whose worker died does not wait for it: the sweep ends it
    # within LOUPE_RUN_STALE_AFTER_S + LOUPE_RUN_SWEEP_EVERY_S, and the late redelivery finds it finished.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=int(timedelta(hours=12, minutes=30).total_seconds())),
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Task defaults (STYLE.md): tasks are idempotent, so a message is acknowledged only after the
# task ran, and a task whose worker died is redelivered rather than lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=int(timedelta(minutes=30).total_seconds()))
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=int(timedelta(minutes=35).total_seconds()))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task results (the django-db backend) older than this are deleted by the periodic sweep (and by celery's own
# daily `celery.backend_cleanup`, which beat adds when this is set).
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=int(timedelta(days=1).total_seconds()))
CELERY_IMPORTS = ["config.sweep"]
# Beat: `celery worker -B` in the embedded default (scripts/demo.sh), a `celery beat` process in production.
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule"))
CELERY_BEAT_SCHEDULE = {
    # A sweep that waited longer than its period behind other work is dropped: the next one does the same.
    "runs-sweep": {
        "task": "config.runs_sweep", "schedule": float(env.int("LOUPE_RUN_SWEEP_EVERY_S", default=60)),
        "options": {"expires": float(env.int("LOUPE_RUN_SWEEP_EVERY_S", default=60))},
    },
}

# Runs (config/runs.py): a working run row beats every LOUPE_RUN_HEARTBEAT_S; one silent for
# LOUPE_RUN_STALE_AFTER_S has lost its worker and is taken over or failed. Six missed beats; with the sweep's
# period, a run whose worker died on another host is ended within 4 minutes (one on the same host at the next sweep).
LOUPE_RUN_HEARTBEAT_S = env.float("LOUPE_RUN_HEARTBEAT_S", default=30.0)
LOUPE_RUN_STALE_AFTER_S = env.int("LOUPE_RUN_STALE_AFTER_S", default=int(timedelta(minutes=3).total_seconds()))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_error_without_traceback": {"()": "config.logfilters.ClientErrorWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default config gives `django` a console handler of its own (DEBUG only) and lets it propagate
        # to the root's too: every record then printed twice. One handler, the root's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["client_error_without_traceback"]},
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
