"""A pytest plugin loaded before Django reads its settings (`-p tests.env` in pytest.ini): test mode."""
import os
from pathlib import Path

os.environ.setdefault("LOUPE_ENV", "test")
# Tests keep their database and broker folders apart from the demo's var/, so that a running
# `make demo` worker never takes a test's messages. Set LOUPE_VAR_DIR to choose another place.
os.environ.setdefault("LOUPE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run in
# a thread with a running loop unless told that this is safe (it is: the loop is Playwright's).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
