#!/bin/sh
# Runs once when the postgres volume is first created. Two ordinary roles (row-level security,
# tenants/rls.py, binds nothing for a superuser, and a table's owner can switch it off):
# - portal_owner owns the database and the schema; only the `migrate` service uses it;
# - portal is what the web, workers and follower connect as; it owns nothing and gets DML on
#   the tables from `migrate` (GRANTs and default privileges).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$PORTAL_DB_OWNER_PASSWORD" -v app_password="$PORTAL_DB_PASSWORD" <<'SQL'
CREATE ROLE portal_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE portal LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE portal OWNER portal_owner;
SQL
