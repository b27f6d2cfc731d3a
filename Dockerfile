# The TrainerHub fixture with otel_trainerhub, for the compose stack (web, worker, beat).
# The trainer app's bundle (frontend/) is built in a Node stage and served by Django at /trainer/.
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./
RUN node build.mjs

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY otel_trainerhub ./otel_trainerhub
RUN pip install ".[fixture]"
COPY app_fixture ./app_fixture
COPY --from=frontend /frontend/dist ./frontend/dist
WORKDIR /app/app_fixture
ENV PYTHONPATH=/app/app_fixture DJANGO_SETTINGS_MODULE=config.settings GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
