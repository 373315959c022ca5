"""videos, their chunks (read by LangChain's PGVectorStore) and session links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

The embedding column's dimension is the app setting EMBEDDING_DIMENSIONS at the time this runs;
changing it later needs a new revision (and new embeddings). There is deliberately no approximate
index on the embedding: see services/video_rag/models.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from services.common.settings import get_settings

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "video",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.String(length=100), nullable=False),
        sa.Column("language_code", sa.String(length=20), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("is_generated", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video")),
        sa.UniqueConstraint(
            "video_id",
            "language_code",
            "embedding_model",
            "source",
            name=op.f("uq_video_video_id_language_code_embedding_model_source"),
        ),
    )
    op.create_table(
        "session_video",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.String(length=100), nullable=False),
        sa.Column("video_key", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_session_video_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["video_key"], ["video.id"], name=op.f("fk_session_video_video_key_video")),
        sa.PrimaryKeyConstraint("session_id", "video_id", name=op.f("pk_session_video")),
    )
    op.create_index(op.f("ix_session_video_video_key"), "session_video", ["video_key"])
    op.create_table(
        "video_chunk",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("video_key", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.String(length=100), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(get_settings().embedding_dimensions), nullable=True),
        sa.Column("fts_config", postgresql.REGCONFIG(), nullable=False),
        sa.Column(
            "content_tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(fts_config, content)", persisted=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["video_key"], ["video.id"], name=op.f("fk_video_chunk_video_key_video"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_chunk")),
    )
    # Vectors inline in the table's pages (no TOAST lookups) when a row still fits a page: an exact
    # scan of a session's chunks reads them ~3x faster (bench/retrieve.py).
    if get_settings().embedding_dimensions <= 1900:
        op.execute("ALTER TABLE video_chunk ALTER COLUMN embedding SET STORAGE PLAIN")
    op.create_index("ix_video_chunk_video_key", "video_chunk", ["video_key"])
    op.create_index(
        "ix_video_chunk_content_tsv",
        "video_chunk",
        ["content_tsv"],
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )


def downgrade() -> None:
    op.drop_table("video_chunk")
    op.drop_table("session_video")
    op.drop_table("video")
