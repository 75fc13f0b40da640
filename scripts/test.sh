#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration with a real worker, browser) on whatever
# DATABASE_URL and CELERY_BROKER_URL say; the embedded SQLite and filesystem broker by default.
# Extra pytest arguments go in PYTEST_ARGS, e.g. PYTEST_ARGS="-k worker -x".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh requirements-dev.txt

# The browser tests drive Debian's chromium; Playwright cannot download its own build here.
if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing Debian's chromium"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
fi

read -r -a pytest_args <<< "${PYTEST_ARGS:-}"
status=0
.venv/bin/python -m pytest "${pytest_args[@]}" || status=$?
if [ "$status" = 5 ]; then
    echo "make test: pytest collected no tests (exit 5); that is a failure, not a pass." >&2
fi
exit "$status"
