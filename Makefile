# Loupe's two commands. Both work on a fresh clone: they create .venv and install the pins.
.PHONY: demo test

# Migrate, seed demo data and serve on http://127.0.0.1:$(PORT) (default 8000) with a Celery worker.
demo:
	bash scripts/demo.sh

# The whole test suite; extra pytest arguments in PYTEST_ARGS="...".
test:
	bash scripts/test.sh
