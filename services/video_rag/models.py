"""Videos, their chunks, and which session has which video.

A video (one id, transcript language and embedding model) is stored once, whatever the number of
sessions that added it; `session_video` links sessions to it. `video_chunk` is the table LangChain's
PGVectorStore reads: text id, content, embedding, metadata columns, and a tsvector for full text;
`video_sentence` holds a vector for each sentence of a window.
"""

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from services.common.models import Base
from services.common.settings import get_settings

CHUNK_TABLE = "video_chunk"
SENTENCE_TABLE = "video_sentence"


class Video(Base):
    __tablename__ = "video"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    video_id: Mapped[str] = mapped_column(String(100))
    language_code: Mapped[str] = mapped_column(String(20))
    embedding_model: Mapped[str] = mapped_column(String(200))
    # "youtube" for transcripts fetched from YouTube, "upload:<sha256 of the content>" for uploads:
    # uploaded captions never stand in for YouTube's own in other sessions.
    source: Mapped[str] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean)
    duration_seconds: Mapped[float] = mapped_column(Float)
    chunk_count: Mapped[int] = mapped_column(Integer)
    # The words of all its chunks' spans (`video_chunk.span_words`: full-text search's average span
    # length); set where the chunks are written, in the same transaction.
    span_words: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("video_id", "language_code", "embedding_model", "source"),)


class IngestJob(Base):
    """A video being fetched, embedded and stored by the queue-triggered function (one queue message
    per job), or that failed. One job per video, languages and embedding model, shared by every
    session waiting for it; it goes once the video is stored (its sessions then link the video) or
    once no session waits for it any more."""

    __tablename__ = "ingest_job"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    video_id: Mapped[str] = mapped_column(String(100))
    languages: Mapped[str] = mapped_column(String(250))  # "en,de": the requested order
    embedding_model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # "pending" | "failed"
    stage: Mapped[str] = mapped_column(String(20))  # "queued" | "fetching" | "embedding" | "storing"
    progress: Mapped[float] = mapped_column(Float)  # 0..1, of the whole job
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)  # deliveries of its queue message that started work
    # The queue message whose delivery works on it: a redelivery of that message takes over at once (the
    # earlier delivery failed or died), another message (a duplicate) only once the work stalls.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Moved by every step of the work: a pending job whose worker died stops moving (the expiry bound).
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("video_id", "languages", "embedding_model"),)


class SessionVideo(Base):
    """A session's video: ready (`video_key`), or waiting for a job (`job_id`: pending or failed)."""

    __tablename__ = "session_video"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session.id", ondelete="CASCADE"), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # No cascade from video: a video is only deleted once no session links it (see the repository).
    video_key: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("video.id"), index=True)
    # Likewise a job is only deleted once no session waits for it.
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ingest_job.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("(video_key IS NULL) <> (job_id IS NULL)", name="video_or_job"),)


class VideoChunk(Base):
    __tablename__ = CHUNK_TABLE

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    video_key: Mapped[uuid.UUID] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(String(100))
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    content: Mapped[str] = mapped_column(Text)
    embedding: Mapped[list[float] | None] = mapped_column(Vector(get_settings().embedding_dimensions))
    fts_config: Mapped[str] = mapped_column(REGCONFIG)
    content_tsv: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector(fts_config, content)", persisted=True))
    # The words of the window's span (its text and that of the windows it is embedded with): the length
    # by which full-text search damps the span's score.
    span_words: Mapped[int | None] = mapped_column(Integer)

    # Every search is confined to one session's videos: ix_video_chunk_video_key finds their chunks,
    # and the GIN index serves the full-text leg (the planner ANDs it with the video index for rare
    # words, `python -m bench retrieve`; writes unchanged, `python -m bench storage`). On purpose NO
    # approximate (HNSW) index on `embedding`: pgvector 0.6 filters AFTER searching, which loses the
    # results of small sessions in a large table, and it makes chunk writes ~35x slower
    # (`python -m bench storage`); an exact scan of a session's 1,000-2,000 chunks is fast enough.
    # The table's toast_tuple_target is a page (migration 0006, not a model option): a row is stored
    # whole, its vector with it, where the default of 2 KB sent every 1536-dimension vector to TOAST.
    __table_args__ = (
        Index("ix_video_chunk_video_key", "video_key"),
        # No pending list: a video's chunks are searchable through the index as soon as they are
        # written (with the pending list, new chunks are scanned linearly until the next vacuum).
        Index(
            "ix_video_chunk_content_tsv", "content_tsv", postgresql_using="gin", postgresql_with={"fastupdate": "off"}
        ),
    )


class VideoSentence(Base):
    """The vector of one sentence of a window (chunking.window_sentences): the window is chunk
    `<video_key>:<chunk_seq>`, `seq` the sentence's place in it. Its primary key's leading column finds
    a session's sentences; no other index."""

    __tablename__ = SENTENCE_TABLE

    video_key: Mapped[uuid.UUID] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"), primary_key=True)
    chunk_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    embedding: Mapped[list[float]] = mapped_column(Vector(get_settings().embedding_dimensions))
