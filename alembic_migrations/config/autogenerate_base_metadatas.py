"""The metadata of every Alembic-managed table: autogenerate compares the database with these."""

from sqlalchemy import MetaData

import services.sessions.models
import services.video_rag.models  # noqa: F401
from services.common.models import Base

BASE_METADATAS: list[MetaData] = [Base.metadata]
