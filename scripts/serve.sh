#!/usr/bin/env bash
# The web server and a Celery worker side by side, as `make run` starts them (after set-up).
# The worker is supervised: when it dies (killed, out of memory) the web server keeps
# serving, its pages say no worker is running, and the worker is started again after a
# short pause (longer when it keeps dying); its jobs are then taken over at once. When the
# web server stops, everything stops. Ctrl-C (or SIGTERM) stops both.
# WORKER_COMMAND / WEB_COMMAND replace the two commands (tests do).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log
WORKER_COMMAND=${WORKER_COMMAND:-celery -A workers worker -Q cpu,gpu --concurrency ${WORKER_CONCURRENCY:-1} --loglevel INFO --logfile var/log/worker.log}
WEB_COMMAND=${WEB_COMMAND:-gunicorn webapp.wsgi:application --bind $HOST:$PORT --workers 2 --threads 4 --timeout 600 --access-logfile -}
RESTART_DELAY=${WORKER_RESTART_DELAY:-2}

worker=""
web=""
cleanup() {
  trap - INT TERM EXIT
  echo "==> stopping web server and worker"
  kill -TERM ${worker:+"$worker"} ${web:+"$web"} 2>/dev/null || true
  wait 2>/dev/null || true
  exit "${1:-0}"
}
trap 'cleanup 130' INT
trap 'cleanup 143' TERM
trap 'cleanup $?' EXIT

start_worker() {
  $WORKER_COMMAND &
  worker=$!
  worker_started=$SECONDS
}

start_worker
echo "==> worker running (log: var/log/worker.log)"
$WEB_COMMAND &
web=$!
echo "==> open http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/docs/). Ctrl-C stops."

failures=0
while true; do
  wait -n "$worker" "$web"
  if ! kill -0 "$web" 2>/dev/null; then
    echo "==> the web server stopped"
    cleanup 1
  fi
  if ! kill -0 "$worker" 2>/dev/null; then
    wait "$worker" 2>/dev/null
    status=$?
    # a worker that ran a while had a fault, not a broken set-up: back to the short pause
    (( SECONDS - worker_started > 60 )) && failures=0
    delay=$(( RESTART_DELAY * (1 << (failures < 5 ? failures : 5)) ))
    failures=$((failures + 1))
    echo "==> worker exited (status $status); the web server goes on; restarting the worker in ${delay} s"
    sleep "$delay" &
    wait $!  # (in the background, so that Ctrl-C still stops everything at once)
    start_worker
    echo "==> worker restarted"
  fi
done
