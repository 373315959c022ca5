#!/bin/sh
# azd postprovision hook: `alembic upgrade head` against the new server, then (passwordless) the app's
# PostgreSQL role gets the use of the tables. Needs this machine's IP in CLIENT_IP_ADDRESS
# (azd env set CLIENT_IP_ADDRESS <ip>) and POSTGRES_ADMIN_PASSWORD in the azd env.
set -eu
if [ -z "${CLIENT_IP_ADDRESS:-}" ]; then
  echo "CLIENT_IP_ADDRESS is not set: skipping migrations (run them from CI: .github/workflows/deploy.yml)"
  exit 0
fi
password=$(python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["POSTGRES_ADMIN_PASSWORD"], safe=""))')
export PG_CONNECTION_STRING="postgresql://${POSTGRES_ADMIN_LOGIN}:${password}@${POSTGRES_HOST}:5432/${POSTGRES_DATABASE}?sslmode=require"
python3 -m venv .venv-migrate
.venv-migrate/bin/pip install --quiet -r requirements.txt
.venv-migrate/bin/alembic upgrade head
if [ -n "${POSTGRES_APP_ROLE:-}" ]; then
  .venv-migrate/bin/python DeployResources/hooks/grant_app_role.py "${POSTGRES_APP_ROLE}"
fi
