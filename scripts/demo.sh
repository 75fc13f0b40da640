#!/usr/bin/env bash
# `make demo`: install, migrate, seed demo data, then run two Celery workers and the web app: one on the
# `default` queue (drafts, rescales, uploads, exports, with beat for the periodic sweep) and one on the `gpu`
# queue (critic training, scoring and generation, one task at a time), so that a long Retrain never holds up
# the rest. Stopping the demo (Ctrl-C, or a TERM to this script) stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

export LOUPE_ENV="${LOUPE_ENV:-local}"
port="${PORT:-8000}"
var_dir="${LOUPE_VAR_DIR:-var}"

bash scripts/venv.sh requirements.txt

.venv/bin/python manage.py migrate --noinput
# seed_demo prints the accounts and their password; show it now and again beside the URL.
seed_output="$(.venv/bin/python manage.py seed_demo | tee /dev/stderr)"
# The demo's comparison pairs come from the active selector: queue the first batch now; the worker
# refills the queue and rescales the scores as judgements arrive.
.venv/bin/python manage.py refill_pairs demo
# A blinded side-by-side study of two offline describers, for annotator1 and annotator2 to vote on.
.venv/bin/python manage.py seed_demo_study demo
# Simulated annotators (sim-observer-N, sim-careless-N: labelled, no password) answer part of the queue from
# the hidden ground truth, so scores, quality control and exports have data; annotator1/2 still find open work.
# The numbers (the command's defaults, evaluation.demo_observers.SimulationConfig) are totals per observer, enough
# ratings for one Retrain of the tiny critic to learn (docs/benchmarks.md, "The demo loop"): a second `make demo`
# adds nothing.
.venv/bin/python manage.py simulate_annotators demo
# The demo's critic: a tiny model built offline under var/critic (once), so that Retrain works on CPU.
.venv/bin/python manage.py critic_init --project demo

# Each child runs in a process group of its own (setsid), so that stopping one group stops a worker together
# with its pool processes and beat; Ctrl-C reaches only this script, whose trap stops every group at once.
pids=()
own_group="$(command -v setsid || true)"
stop_all() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    # TERM asks Celery for a warm shutdown, which would wait for a running training to end: give the processes
    # a few seconds, then kill what is left. A task cut off this way is redelivered (acks_late); a training run
    # then ends failed with its reason, and Retry starts a fresh one.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "==> demo stopped (web app and Celery workers)"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$var_dir"
worker_log="$var_dir/demo-worker.log"
gpu_worker_log="$var_dir/demo-gpu-worker.log"
echo "==> starting a Celery worker on the default queue, with beat for the periodic sweep (log: $worker_log)"
$own_group .venv/bin/celery -A config worker -B -Q default -c 2 -n "loupe-default@%h" -l info >"$worker_log" 2>&1 &
pids+=("$!")
echo "==> starting a Celery worker on the gpu queue, one task at a time (log: $gpu_worker_log)"
$own_group .venv/bin/celery -A config worker -Q gpu -c 1 --prefetch-multiplier 1 -n "loupe-gpu@%h" -l info >"$gpu_worker_log" 2>&1 &
pids+=("$!")

logins="$(sed -n '/^Logins:/,$p' <<< "$seed_output")"
cat <<MSG

==> Loupe demo: http://127.0.0.1:${port}/
$(sed 's/^/    /' <<< "${logins:-$seed_output}")
    Stop with Ctrl-C; the workers stop with the web app.

MSG
# In the background so that a TERM or INT to this script is handled at once (bash runs traps
# only between commands); the trap above then stops the server and the workers together.
$own_group .venv/bin/python manage.py runserver --noreload "127.0.0.1:${port}" &
server_pid=$!
pids+=("$server_pid")
wait "$server_pid"
