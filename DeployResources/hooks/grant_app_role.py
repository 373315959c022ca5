"""Grants the app's PostgreSQL role (its managed identity, a Microsoft Entra administrator of the server:
README "Connections") the use of the tables that the migrations create. Run right after `alembic upgrade
head`, with the same PG_CONNECTION_STRING (the role that ran the migrations owns the tables, and its
default privileges cover the tables of later revisions):

    python DeployResources/hooks/grant_app_role.py <role>     # the Function App's name

Idempotent. Without such a role (the app signs in with the administrator password) nothing is granted.
"""

import os
import sys

import psycopg
from psycopg import sql

GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
)


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def grant(url: str, role: str) -> bool:
    """Grants `role` the app's tables; False when there is no such role."""
    with psycopg.connect(libpq_url(url)) as connection:
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            return False
        for statement in GRANTS:
            connection.execute(sql.SQL(statement).format(role=sql.Identifier(role)))
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: grant_app_role.py <role> (with PG_CONNECTION_STRING set)", file=sys.stderr)
        return 2
    if grant(os.environ["PG_CONNECTION_STRING"], argv[0]):
        print(f"role {argv[0]}: granted the use of the app's tables")
    else:
        print(f"role {argv[0]} does not exist: nothing to grant (the app signs in with the password)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
