"""The one environment reader that settings use (django-environ)."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` file beside manage.py is read if present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# `local` (the embedded default and the demo), `test`, or `production`.
LOUPE_ENV = env.str("LOUPE_ENV", default="local")
if LOUPE_ENV not in {"local", "test", "production"}:
    raise environ.ImproperlyConfigured(f"LOUPE_ENV must be local, test or production, not {LOUPE_ENV!r}")
