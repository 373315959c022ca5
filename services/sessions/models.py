"""The `session` table: one row per anonymous client session."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.common.models import Base


class Session(Base):
    __tablename__ = "session"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Indexed: the cleanup timer asks "which sessions have expired?", a range scan.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
