"""chat history table (the schema LangChain's PostgresChatMessageHistory reads and writes)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

LangChain owns this table's shape (`PostgresChatMessageHistory.create_tables` would create the same):
it is created here so that it exists before the first chat, and it is excluded from autogenerate.
Its name is the app setting LANGCHAIN_CHAT_MESSAGE_TABLE_NAME (a validated SQL identifier).
"""

from collections.abc import Sequence

from alembic import op

from services.common.settings import get_settings

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = get_settings().langchain_chat_message_table_name
    op.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" ('
        " id SERIAL PRIMARY KEY,"
        " session_id UUID NOT NULL,"
        " message JSONB NOT NULL,"
        " created_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
    )
    op.execute(f'CREATE INDEX IF NOT EXISTS "idx_{table}_session_id" ON "{table}" (session_id)')


def downgrade() -> None:
    op.execute(f'DROP TABLE IF EXISTS "{get_settings().langchain_chat_message_table_name}"')
