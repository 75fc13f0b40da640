"""A pytest plugin loaded before Django reads its settings (`-p tests.env` in pytest.ini): test mode."""
import os

os.environ.setdefault("LOUPE_ENV", "test")
