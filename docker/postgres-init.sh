#!/bin/sh
# Runs once when the postgres volume is first created. The portal connects as an ordinary
# role: row-level security (tenants/rls.py) binds nothing for a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE portal LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${PORTAL_DB_PASSWORD}';
CREATE DATABASE portal OWNER portal;
SQL
