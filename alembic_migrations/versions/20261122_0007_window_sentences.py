"""video_sentence: a vector per sentence of each window

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

A window's vector (its text and that of the two windows after it) says what its stretch of video is
about; one sentence in it that answers a question is diluted there. Retrieval's third leg scores each
window by its sentence most similar to the question (services/video_rag/retrieval.py). Videos stored
before have no sentence vectors (they need the embedding provider): their windows count as average in
that leg, and the other two rank them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

from services.common.settings import get_settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "video_sentence",
        sa.Column("video_key", sa.Uuid(), nullable=False),
        sa.Column("chunk_seq", sa.Integer(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("embedding", Vector(get_settings().embedding_dimensions), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_key"], ["video.id"], name=op.f("fk_video_sentence_video_key_video"), ondelete="CASCADE"
        ),
        # Its leading column finds a session's sentences: no other index to write.
        sa.PrimaryKeyConstraint("video_key", "chunk_seq", "seq", name=op.f("pk_video_sentence")),
    )
    # As video_chunk's (migrations 0002 and 0006): a row and its vector in one page, no TOAST.
    op.execute("ALTER TABLE video_sentence SET (toast_tuple_target = 8160)")
    if get_settings().embedding_dimensions <= 1900:
        op.execute("ALTER TABLE video_sentence ALTER COLUMN embedding SET STORAGE PLAIN")


def downgrade() -> None:
    op.drop_table("video_sentence")
