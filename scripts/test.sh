#!/usr/bin/env bash
# The whole test suite. Uses DATABASE_URL / CELERY_BROKER_URL when set (CI runs it once
# on the embedded default and once on PostgreSQL + Redis), else SQLite and a SQLite broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export ANOMALY_VAR_DIR=${ANOMALY_VAR_DIR:-$PWD/var/test}
mkdir -p "$ANOMALY_VAR_DIR"
if [[ -z ${CELERY_BROKER_URL:-} ]]; then
  export CELERY_BROKER_URL="sqla+sqlite:///$ANOMALY_VAR_DIR/celery-broker.sqlite3"
fi
echo "==> database: ${DATABASE_URL:-sqlite (embedded)}; broker: ${CELERY_BROKER_URL%%:*}"
exec .venv/bin/python -m pytest "$@"
