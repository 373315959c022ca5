"""Request and response bodies of the session routes."""

from typing import Annotated

from pydantic import BaseModel, Field

from services.common.http import RequestModel, Timestamp


class SessionRequest(RequestModel):
    session_id: Annotated[str, Field(max_length=100)] | None = None


class SessionResponse(BaseModel):
    session_id: str
    created_at: Timestamp
    expires_at: Timestamp
    created: bool
