#!/usr/bin/env bash
# Static checks: ruff, Django system checks (deploy profile), missing migrations, OpenAPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANOMALY_VAR_DIR=${ANOMALY_VAR_DIR:-$PWD/var/lint}
ruff check .
ruff format --check .
python manage.py makemigrations --check --dry-run
python manage.py spectacular --validate --fail-on-warn --file "$ANOMALY_VAR_DIR/openapi.yaml"
# The production profile: secure cookies, HSTS, a real secret key.
DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
DJANGO_SECURE_COOKIES=1 DJANGO_SECURE_SSL_REDIRECT=1 DJANGO_SECURE_HSTS_SECONDS=31536000 \
  DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=1 DJANGO_SECURE_HSTS_PRELOAD=1 \
  python manage.py check --deploy --fail-level WARNING
echo "lint: all checks passed"
