"""video_chunk rows whole in their page; span word counts for full-text search

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

A chunk row (a 1536-dimension vector is 6 KB) was cut at PostgreSQL's default toast_tuple_target of
2 KB: its vector went to the TOAST table, three more tuples and index entries per row written, and
read back through the TOAST index by every exact vector scan. With the target at a page (8,160
bytes) a row is stored whole when it fits, as most do; longer ones are still toasted. Rows written
before keep their layout until rewritten (VACUUM FULL).

Full-text search (BM25) scores each window's span (the window and the two after it, as embedded) and
damps it by the span's length: each chunk row now carries its span's word count (`span_words`) and
each video row their sum, set where the chunks are written, instead of every window of the session
being read at query time. Stored chunks get theirs from their text (distinct words per window, spans
of the default CHUNK_EMBED_FOLLOWING, 2), videos from their chunks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE video_chunk SET (toast_tuple_target = 8160)")
    op.add_column("video", sa.Column("span_words", sa.BigInteger(), nullable=True))
    op.add_column("video_chunk", sa.Column("span_words", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE video_chunk SET span_words = spans.words FROM ("
        "  SELECT id, sum(words) OVER ("
        "    PARTITION BY video_key ORDER BY split_part(id, ':', 2)::int ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING"
        "  ) AS words FROM ("
        "    SELECT id, video_key, (SELECT count(DISTINCT word)"
        "      FROM regexp_split_to_table(lower(btrim(content)), '\\s+') AS word WHERE word <> '') AS words"
        "    FROM video_chunk"
        "  ) AS windows"
        ") AS spans WHERE spans.id = video_chunk.id"
    )
    op.execute(
        "UPDATE video SET span_words = "
        "(SELECT coalesce(sum(span_words), 0) FROM video_chunk WHERE video_chunk.video_key = video.id)"
    )


def downgrade() -> None:
    op.drop_column("video_chunk", "span_words")
    op.drop_column("video", "span_words")
    op.execute("ALTER TABLE video_chunk RESET (toast_tuple_target)")
