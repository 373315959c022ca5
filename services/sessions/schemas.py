"""Request and response bodies of the session routes."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from services.common.http import RequestModel

# ISO 8601 with an explicit UTC offset ("+00:00"), as API.md promises.
Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class SessionRequest(RequestModel):
    session_id: Annotated[str, Field(max_length=100)] | None = None


class SessionResponse(BaseModel):
    session_id: str
    created_at: Timestamp
    expires_at: Timestamp
    created: bool
