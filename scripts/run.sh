#!/usr/bin/env bash
# The embedded default, one command: set up, then run the web server on 127.0.0.1:8000
# together with a real Celery worker process. SQLite, local media and a broker on SQLite:
# no server to install. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export PATH="$PWD/.venv/bin:$PATH"
python manage.py migrate --no-input
python manage.py collectstatic --no-input --verbosity 0
python manage.py ensure_admin

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log
celery -A workers worker -Q cpu,gpu --concurrency "${WORKER_CONCURRENCY:-1}" \
  --loglevel INFO --logfile var/log/worker.log &
worker=$!
cleanup() {
  trap - INT TERM EXIT
  echo "==> stopping web server and worker"
  kill -TERM "$worker" "${web:-}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

echo "==> worker running (log: var/log/worker.log)"
echo "==> open http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/docs/). Ctrl-C stops."
gunicorn webapp.wsgi:application --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --timeout 600 --access-logfile - &
web=$!
wait -n "$worker" "$web"
