"""video.lexeme_count: the lexemes of a video's chunks, for full-text search's average window length

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Full-text search (BM25) needs the session's window count and average window length; both now come from
the video rows (chunk_count, lexeme_count) instead of reading every window of the session. Stored
videos get theirs from their chunks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("video", sa.Column("lexeme_count", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE video SET lexeme_count = "
        "(SELECT sum(length(content_tsv)) FROM video_chunk WHERE video_chunk.video_key = video.id)"
    )


def downgrade() -> None:
    op.drop_column("video", "lexeme_count")
