"""video_chunk rows whole in their page, video.lexeme_count for full-text search

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-22

A chunk row (a 1536-dimension vector is 6 KB) was cut at PostgreSQL's default toast_tuple_target of
2 KB: its vector went to the TOAST table, three more tuples and index entries per row written, and
read back through the TOAST index by every exact vector scan. With the target at a page (8,160
bytes) a row is stored whole when it fits, as most do; longer ones are still toasted. Rows written
before keep their layout until rewritten (VACUUM FULL).

Full-text search (BM25) needs the session's average span length; the video rows now carry the
lexemes of their chunks' tsvectors (`lexeme_count`), set where the chunks are written, instead of every
window of the session being read at query time. Stored videos get theirs from their chunks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE video_chunk SET (toast_tuple_target = 8160)")
    op.add_column("video", sa.Column("lexeme_count", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE video SET lexeme_count = "
        "(SELECT coalesce(sum(length(content_tsv)), 0) FROM video_chunk WHERE video_chunk.video_key = video.id)"
    )


def downgrade() -> None:
    op.drop_column("video", "lexeme_count")
    op.execute("ALTER TABLE video_chunk RESET (toast_tuple_target)")
