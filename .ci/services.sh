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
# Database monitoring: pg_stat_statements (needs a restart to load) and PostgreSQL's own log of
# statements over 100 ms (SLOW_QUERY_THRESHOLD's default), with the route each carries in its
# SQL comment (OTEL_TRAINERHUB_SQL_COMMENTS). Bind parameter values stay out of that log.
pg_admin() { su postgres -c "PGOPTIONS=--client-min-messages=warning psql -p $PGPORT -qtAc \"$1\""; }
if ! pg_admin "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  ver=$(pg_lsclusters -h | awk -v p="$PGPORT" '$3 == p {print $1; exit}')
  pg_admin "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  pg_ctlcluster "$ver" main restart
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.2; done
  pg_isready -h 127.0.0.1 -p "$PGPORT"
fi
if [ "$(pg_admin "SHOW log_min_duration_statement")" != "100ms" ] || [ "$(pg_admin "SHOW log_parameter_max_length")" != "0" ]; then
  pg_admin "ALTER SYSTEM SET log_min_duration_statement = '100ms'" >/dev/null
  pg_admin "ALTER SYSTEM SET log_parameter_max_length = 0" >/dev/null
  pg_admin "SELECT pg_reload_conf()" >/dev/null
fi
# In template1 too, so that test databases made from it have the view.
for db in template1 postgres; do
  su postgres -c "PGOPTIONS=--client-min-messages=warning psql -p $PGPORT -d $db -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'" >/dev/null
done

# A role and database for the fixture (CREATEDB so Django's test runner may make test databases).
su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'\"" | grep -q 1 ||
  su postgres -c "psql -p $PGPORT -qc \"CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'\""
su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_database WHERE datname='$DB_NAME'\"" | grep -q 1 ||
  su postgres -c "createdb -p $PGPORT -O $DB_USER $DB_NAME"
su postgres -c "PGOPTIONS=--client-min-messages=warning psql -p $PGPORT -d $DB_NAME -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'" >/dev/null
# pg_monitor: the exporter (which connects as this role) reads every statement's text and the locks.
pg_admin "GRANT pg_monitor TO $DB_USER" >/dev/null
# pg_stat_statements keeps the text it first saw for a statement, comment and all, so a test that
# reads routes from it resets its own database's entries first (it may not touch the others).
for db in template1 postgres "$DB_NAME"; do
  su postgres -c "PGOPTIONS=--client-min-messages=warning psql -p $PGPORT -d $db -qc 'GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO $DB_USER'" >/dev/null
done

# Redis: a daemon on loopback with no persistence (it only holds cache and queue state here).
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --logfile /tmp/trainerhub-redis.log
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" ping >/dev/null
fi
echo "services: postgresql on 127.0.0.1:$PGPORT (db $DB_NAME), redis on 127.0.0.1:$REDIS_PORT"
