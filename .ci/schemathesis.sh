#!/usr/bin/env bash
# Property-based API checks: start a throwaway portal (embedded mode, its own SQLite), issue a
# token for alice@acme and let schemathesis hammer every documented operation with a bounded
# number of examples. Fails on any 5xx or any response that does not match the schema.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PORT=${SCHEMATHESIS_PORT:-8765}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-25}
WORK=$(mktemp -d)
export PORTAL_VAR_DIR="$WORK" PORTAL_ENV=development DEBUG=false ALLOWED_HOSTS=127.0.0.1,localhost
# Embedded mode on purpose: deterministic, no shared state with the test databases.
unset DATABASE_URL DATABASE_MIGRATE_URL REDIS_URL CELERY_BROKER_URL
# Schemathesis sends many requests quickly; the throttle is exercised by the test suite.
export API_THROTTLE_TOKEN=100000/minute
$BIN/python manage.py migrate --noinput >/dev/null
$BIN/python manage.py seed_demo >/dev/null
TOKEN=$($BIN/python manage.py issue_token alice acme --name schemathesis)
$BIN/uvicorn portal.asgi:application --host 127.0.0.1 --port "$PORT" --log-level warning >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
$BIN/schemathesis run "http://127.0.0.1:$PORT/api/schema/?format=json" \
  --url "http://127.0.0.1:$PORT" \
  -H "Authorization: Bearer $TOKEN" \
  --max-examples "$EXAMPLES" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --exclude-path-regex '^/api/v1/admin/' \
  --no-color \
  || { echo "--- server log ---"; tail -50 "$WORK/server.log"; exit 1; }
