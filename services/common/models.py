"""The declarative base every Alembic-managed table derives from, and the one table of `common`:
the counters of the rate and spending limits (`services.common.limits`)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so migrations and error mapping can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RateCounter(Base):
    """How much one client (or the whole service) has used of one limit in the current window, which
    ends at `window_end`. One row per limit and client: the first count after a window ends starts the
    next window in the same row; the cleanup timer deletes the rows of windows that have ended."""

    __tablename__ = "rate_counter"

    bucket: Mapped[str] = mapped_column(String(100), primary_key=True)  # the limit's setting [:client hash]
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(BigInteger)
