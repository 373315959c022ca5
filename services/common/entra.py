"""Passwordless PostgreSQL (PG_ENTRA_AUTH=true): the app's Microsoft Entra identity (on Azure, its
managed identity) gets an access token for Azure Database for PostgreSQL, and each new connection of
the one engine presents the current token as its password. Tokens live about an hour; one that
expires within RENEW_BEFORE_SECONDS is renewed before a connection uses it. A token is never logged."""

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class Token(Protocol):
    """What is used of an azure-identity access token."""

    @property
    def token(self) -> str: ...

    @property
    def expires_on(self) -> int: ...


class Credential(Protocol):
    """What is used of an azure-identity credential."""

    def get_token(self, *scopes: str) -> Token: ...


SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
RENEW_BEFORE_SECONDS = 300


class EntraPassword:
    """The current access token of `credential` (any azure-identity credential, or an object with
    `get_token(scope)` returning `.token` and `.expires_on` in epoch seconds) for PostgreSQL: fetched
    on first use, renewed when it expires within `renew_before` seconds. Called from any thread."""

    def __init__(
        self,
        credential: Credential,
        *,
        renew_before: float = RENEW_BEFORE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._renew_before = renew_before
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_on - self._clock() <= self._renew_before:
                self._token = self._credential.get_token(SCOPE)
            return self._token.token

    def __repr__(self) -> str:  # never the token
        return "EntraPassword()"


def default_credential() -> Credential:
    """The app's identity: its managed identity on Azure (AZURE_CLIENT_ID picks a user-assigned one),
    the developer's `az login` locally."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def use_as_password(engine: "AsyncEngine", password: Callable[[], str]) -> None:
    """Every new connection of `engine` authenticates with `password()` (SQLAlchemy's `do_connect`
    event: the documented way to give each connection a fresh credential). Renewal, when due, is a
    blocking call to the identity endpoint, about once an hour."""
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "do_connect")
    def _token_as_password(dialect: Any, connection_record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = password()
