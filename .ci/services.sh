#!/usr/bin/env bash
# Installs (from Debian's packages) and starts PostgreSQL and Redis on loopback,
# idempotently: a service that already answers is left alone.
# Used by .ci/run, by the README's set-up command and by people on a fresh machine.
set -euo pipefail

PGPORT="${TRAINERHUB_PG_PORT:-5432}"
REDIS_PORT="${TRAINERHUB_REDIS_PORT:-6379}"
DB_NAME="${TRAINERHUB_DB_NAME:-trainerhub}"
DB_USER="${TRAINERHUB_DB_USER:-trainerhub}"
DB_PASSWORD="${TRAINERHUB_DB_PASSWORD:-trainerhub}"

need=()
command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  echo "services: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# PostgreSQL: the Debian cluster, started without systemd.
if ! pg_isready -q -h 127.0.0.1 -p "$PGPORT"; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
    pg_createcluster "$ver" main -p "$PGPORT" >/dev/null
  fi
  pg_ctlcluster "$ver" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.2; done
  pg_isready -h 127.0.0.1 -p "$PGPORT"
fi
# A role and database for the fixture (CREATEDB so Django's test runner may make test databases).
su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'\"" | grep -q 1 ||
  su postgres -c "psql -p $PGPORT -qc \"CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'\""
su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_database WHERE datname='$DB_NAME'\"" | grep -q 1 ||
  su postgres -c "createdb -p $PGPORT -O $DB_USER $DB_NAME"

# Redis: a daemon on loopback with no persistence (it only holds cache and queue state here).
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --logfile /tmp/trainerhub-redis.log
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" ping >/dev/null
fi
echo "services: postgresql on 127.0.0.1:$PGPORT (db $DB_NAME), redis on 127.0.0.1:$REDIS_PORT"
