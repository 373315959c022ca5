"""Passwordless PostgreSQL (PG_ENTRA_AUTH=true), offline: a fake Entra credential hands out tokens,
and a PostgreSQL of the test's own requires a password (SCRAM) from the app's role; the role's
password is set to the token the credential currently gives, as Entra ID does for Azure's server."""

import os
import secrets
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.common import database, entra
from tests.postgres_server import dedicated_postgres

HOUR = 3600


@dataclass(frozen=True)
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """Like azure-identity's credentials: `get_token(scope)` gives the current token of the identity."""

    def __init__(self, clock: "FakeClock") -> None:
        self.clock = clock
        self.scopes: list[tuple[str, ...]] = []
        self.current = Token(secrets.token_urlsafe(24), int(clock()) + HOUR)

    def get_token(self, *scopes: str, **kwargs: object) -> Token:
        self.scopes.append(scopes)
        return self.current

    def rotate(self) -> str:
        """Entra ID issues a new token (the old one expires within the hour)."""
        self.current = Token(secrets.token_urlsafe(24), int(self.clock()) + HOUR)
        return self.current.token


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_is_fetched_once_for_the_postgres_scope_and_renewed_before_it_expires() -> None:
    clock = FakeClock()
    credential = FakeCredential(clock)
    password = entra.EntraPassword(credential, clock=clock)

    first = password()
    clock.now += HOUR - entra.RENEW_BEFORE_SECONDS - 60  # not yet within the renewal margin
    again = password()
    renewed_token = credential.rotate()
    clock.now += 120  # now within it
    renewed = password()

    assert first == again != renewed == renewed_token
    assert credential.scopes == [("https://ossrdbms-aad.database.windows.net/.default",)] * 2
    assert first not in repr(password) and renewed not in repr(password)


dedicated = pytest.mark.skipif(
    bool(os.environ.get("PG_CONNECTION_STRING")), reason="starts a PostgreSQL of its own (pgserver)"
)


@dedicated
async def test_each_new_connection_authenticates_with_the_current_token(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    credential = FakeCredential(clock)
    with dedicated_postgres(hba_lines=("local all entra_app scram-sha-256",)) as server:
        server.execute(f"CREATE ROLE entra_app LOGIN PASSWORD '{credential.current.token}'")
        engine = create_async_engine(server.url("postgres", user="entra_app"), pool_size=1, max_overflow=0)
        entra.use_as_password(engine, entra.EntraPassword(credential, clock=clock))
        try:
            async with engine.connect() as connection:
                first_user = (await connection.execute(text("SELECT current_user"))).scalar()

            # Entra ID rotates the token; the pooled connection stays signed in, a new one would
            # present the old token until the renewal margin is reached.
            new_token = credential.rotate()
            server.execute(f"ALTER ROLE entra_app PASSWORD '{new_token}'")
            await engine.dispose()
            with pytest.raises(Exception, match="password authentication failed"):
                async with engine.connect():
                    pass
            clock.now += HOUR - entra.RENEW_BEFORE_SECONDS + 1
            async with engine.connect() as connection:
                second_user = (await connection.execute(text("SELECT current_user"))).scalar()
        finally:
            await engine.dispose()

    assert first_user == second_user == "entra_app"
    assert credential.scopes == [(entra.SCOPE,)] * 2
    assert new_token not in caplog.text


@dedicated
async def test_the_app_engine_signs_in_with_its_identity_when_pg_entra_auth_is_set(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = FakeCredential(FakeClock())
    credential.current = Token(secrets.token_urlsafe(24), 2**31 - 1)  # the real clock: valid for long
    monkeypatch.setattr(entra, "default_credential", lambda: credential)
    with dedicated_postgres(hba_lines=("local all entra_app scram-sha-256",)) as server:
        server.execute(f"CREATE ROLE entra_app LOGIN PASSWORD '{credential.current.token}'")
        settings(PG_CONNECTION_STRING=server.url("postgres", user="entra_app"), PG_ENTRA_AUTH="true")
        await database.dispose_engines()  # the engine of these settings
        try:
            await database.ping()
        finally:
            await database.dispose_engines()
            settings()

    assert credential.scopes == [(entra.SCOPE,)]
