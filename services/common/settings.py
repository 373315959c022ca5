"""Every setting the app reads, typed, from app settings / environment variables.

Names are the established environment variable names (case-insensitive). No other module reads
the environment: they call `get_settings()`.
"""

import re
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class ConfigurationError(RuntimeError):
    """A setting is missing or has a wrong value. The message names the setting, never its value."""


def to_psycopg_url(url: str) -> str:
    """`postgresql://` / `postgres://` / `postgresql+psycopg://` -> the SQLAlchemy psycopg 3 form."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    raise ValueError("must start with postgresql:// or postgresql+psycopg://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # --- database -------------------------------------------------------------------------
    pg_connection_string: SecretStr | None = None
    pg_vector_connection_string: SecretStr | None = None
    pg_vector_driver: str = "psycopg"
    pg_vector_user: str | None = None
    pg_vector_password: SecretStr | None = None
    pg_vector_host: str | None = None
    pg_vector_port: int = Field(5432, ge=1, le=65535)
    pg_vector_database_name: str | None = None
    pg_embedded_data_dir: str = ".data/pgdata"
    db_connect_timeout_seconds: int = Field(5, ge=1, le=120)
    db_pool_size: int = Field(5, ge=1, le=100)

    # --- sessions -------------------------------------------------------------------------
    session_expire_minutes: int = Field(15, ge=1, le=60 * 24 * 365)
    session_sliding_expiration: bool = True
    session_cleanup_schedule: str = "0 0 0 * * *"
    session_cleanup_run_on_startup: bool = False
    session_cleanup_batch_size: int = Field(1000, ge=1, le=100_000)

    # --- HTTP -----------------------------------------------------------------------------
    http_auth_level: Literal["ANONYMOUS", "FUNCTION", "ADMIN"] = "FUNCTION"
    max_request_body_bytes: int = Field(1_000_000, ge=1_000, le=100_000_000)

    # --- LLM / LangChain ------------------------------------------------------------------
    openai_key: SecretStr | None = None
    langchain_chat_message_table_name: str = "langchain_chat_message"

    @field_validator("pg_connection_string", "pg_vector_connection_string")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(to_psycopg_url(value.get_secret_value().strip()))

    @field_validator("http_auth_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("langchain_chat_message_table_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a lower-case SQL identifier (letters, digits, _)")
        return value

    @field_validator("pg_vector_driver")
    @classmethod
    def _driver(cls, value: str) -> str:
        if value not in ("psycopg", "psycopg3", "postgresql+psycopg"):
            raise ValueError("only psycopg (psycopg 3) is supported")
        return "psycopg"

    @property
    def database_url(self) -> str | None:
        """SQLAlchemy URL of the app's database, or None for the embedded one."""
        return self.pg_connection_string.get_secret_value() if self.pg_connection_string else None

    @property
    def vector_database_url(self) -> str | None:
        """URL LangChain uses: PG_VECTOR_CONNECTION_STRING, else built from PG_VECTOR_*, else the app's."""
        if self.pg_vector_connection_string:
            return self.pg_vector_connection_string.get_secret_value()
        if self.pg_vector_host and self.pg_vector_database_name:
            user = quote(self.pg_vector_user or "", safe="")
            password = self.pg_vector_password.get_secret_value() if self.pg_vector_password else ""
            credentials = f"{user}:{quote(password, safe='')}@" if user else ""
            return (
                f"postgresql+{self.pg_vector_driver}://{credentials}"
                f"{self.pg_vector_host}:{self.pg_vector_port}/{self.pg_vector_database_name}"
            )
        return self.database_url


def load_settings() -> Settings:
    """Reads the settings, turning a validation failure into a message that names each bad setting."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"Invalid app settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
