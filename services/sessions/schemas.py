"""Request and response bodies of the session routes."""

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from services.common.http import RequestModel, Timestamp

if TYPE_CHECKING:
    from services.sessions.service import ActiveSession


class SessionRequest(RequestModel):
    session_id: Annotated[str, Field(max_length=100)] | None = None


class SessionResponse(BaseModel):
    session_id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    created_at: Timestamp
    expires_at: Timestamp
    created: bool

    @classmethod
    def of(cls, session: "ActiveSession", created: bool) -> "SessionResponse":
        return cls(
            session_id=str(session.id), created_at=session.created_at, expires_at=session.expires_at, created=created
        )
