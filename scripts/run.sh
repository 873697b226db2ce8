#!/usr/bin/env bash
# The embedded default, one command: set up, then run the web server on 127.0.0.1:8000
# together with a real Celery worker process. SQLite, local media and a broker on SQLite:
# no server to install. Ctrl-C stops both. If the worker dies, the web server goes on
# and the worker is started again (scripts/serve.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export PATH="$PWD/.venv/bin:$PATH"
python manage.py migrate --no-input
python manage.py collectstatic --no-input --verbosity 0
python manage.py ensure_admin

exec scripts/serve.sh  # web server + supervised worker (restarted if it dies)
