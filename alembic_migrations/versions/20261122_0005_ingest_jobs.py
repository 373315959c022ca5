"""ingest_job: videos being ingested by the queue-triggered function; session links to pending videos

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

A session's video is ready (`video_key`) or waits for a job (`job_id`, pending or failed): exactly one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.String(length=100), nullable=False),
        sa.Column("languages", sa.String(length=250), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_job")),
        sa.UniqueConstraint(
            "video_id", "languages", "embedding_model", name=op.f("uq_ingest_job_video_id_languages_embedding_model")
        ),
    )
    op.create_index(op.f("ix_ingest_job_updated_at"), "ingest_job", ["updated_at"], unique=False)
    op.add_column("session_video", sa.Column("job_id", sa.Uuid(), nullable=True))
    op.alter_column("session_video", "video_key", existing_type=sa.Uuid(), nullable=True)
    op.create_foreign_key(op.f("fk_session_video_job_id_ingest_job"), "session_video", "ingest_job", ["job_id"], ["id"])
    op.create_index(op.f("ix_session_video_job_id"), "session_video", ["job_id"], unique=False)
    op.create_check_constraint(
        op.f("ck_session_video_video_or_job"), "session_video", "(video_key IS NULL) <> (job_id IS NULL)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM session_video WHERE video_key IS NULL")
    op.drop_constraint(op.f("ck_session_video_video_or_job"), "session_video", type_="check")
    op.drop_index(op.f("ix_session_video_job_id"), table_name="session_video")
    op.drop_constraint(op.f("fk_session_video_job_id_ingest_job"), "session_video", type_="foreignkey")
    op.alter_column("session_video", "video_key", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("session_video", "job_id")
    op.drop_index(op.f("ix_ingest_job_updated_at"), table_name="ingest_job")
    op.drop_table("ingest_job")
