# azd postprovision hook (Windows): `alembic upgrade head` against the new server, then (passwordless) the
# app's PostgreSQL role gets the use of the tables; see migrate.sh.
$ErrorActionPreference = 'Stop'
if (-not $env:CLIENT_IP_ADDRESS) {
    Write-Host 'CLIENT_IP_ADDRESS is not set: skipping migrations (run them from CI: .github/workflows/deploy.yml)'
    exit 0
}
$password = [uri]::EscapeDataString($env:POSTGRES_ADMIN_PASSWORD)
$env:PG_CONNECTION_STRING = "postgresql://$($env:POSTGRES_ADMIN_LOGIN):$password@$($env:POSTGRES_HOST):5432/$($env:POSTGRES_DATABASE)?sslmode=require"
python -m venv .venv-migrate
.venv-migrate/Scripts/pip install --quiet -r requirements.txt
.venv-migrate/Scripts/alembic upgrade head
if ($env:POSTGRES_APP_ROLE) {
    .venv-migrate/Scripts/python DeployResources/hooks/grant_app_role.py $env:POSTGRES_APP_ROLE
}
