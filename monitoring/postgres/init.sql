-- Run once by the postgres image on a fresh volume (docker-entrypoint-initdb.d): the view the
-- exporter's pg_top_statements query reads (.ci/services.sh does the same on a host).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
