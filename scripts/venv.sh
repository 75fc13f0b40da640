#!/usr/bin/env bash
# Make sure .venv exists and holds the pinned packages of the requirements file given as $1.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements="${1:?usage: scripts/venv.sh REQUIREMENTS_FILE}"
venv="${VENV:-.venv}"

if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
echo "==> installing $requirements into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
