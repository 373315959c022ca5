"""Every setting the app reads, typed, from app settings / environment variables.

Names are the established environment variable names (case-insensitive). No other module reads
the environment: they call `get_settings()`.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# 57, not 63: the host's poison queue is the name + "-poison".
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,55}[a-z0-9]$")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class ConfigurationError(RuntimeError):
    """A setting is missing or has a wrong value. The message names the setting, never its value."""


def to_psycopg_url(url: str) -> str:
    """`postgresql://` / `postgres://` / `postgresql+psycopg://` -> the SQLAlchemy psycopg 3 form."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    raise ValueError("must start with postgresql:// or postgresql+psycopg://")


Provider = Literal["azure", "openai"]
ProviderChoice = Literal["auto", "azure", "openai", "none"]


@dataclass(frozen=True)
class Endpoint:
    """Where one kind of model (embeddings, or chat) is served: Azure OpenAI (`url` is the Azure
    endpoint, `model` the deployment), or OpenAI and any OpenAI-compatible server (`url` is the base
    URL, None for OpenAI itself)."""

    provider: Provider
    model: str
    url: str | None
    key: SecretStr | None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # --- database -------------------------------------------------------------------------
    pg_connection_string: SecretStr | None = None
    pg_embedded_data_dir: str = ".data/pgdata"
    db_connect_timeout_seconds: int = Field(5, ge=1, le=120)
    db_pool_size: int = Field(5, ge=1, le=100)
    db_max_overflow: int = Field(0, ge=0, le=100)
    pg_pgbouncer: bool = False
    pg_entra_auth: bool = False

    # --- sessions -------------------------------------------------------------------------
    session_expire_minutes: int = Field(15, ge=1, le=60 * 24 * 365)
    session_sliding_expiration: bool = True
    session_cleanup_schedule: str = "0 0 0 * * *"
    session_cleanup_run_on_startup: bool = False
    session_cleanup_batch_size: int = Field(1000, ge=1, le=100_000)

    # --- HTTP -----------------------------------------------------------------------------
    http_auth_level: Literal["ANONYMOUS", "FUNCTION", "ADMIN"] = "FUNCTION"
    max_request_body_bytes: int = Field(1_000_000, ge=1_000, le=100_000_000)

    # --- YouTube --------------------------------------------------------------------------
    transcript_languages: str = "en"
    youtube_proxy_http_url: SecretStr | None = None
    youtube_proxy_https_url: SecretStr | None = None
    webshare_proxy_username: str | None = None
    webshare_proxy_password: SecretStr | None = None
    youtube_timeout_seconds: float = Field(20, gt=0, le=300)

    # --- ingestion limits and chunking -----------------------------------------------------
    max_urls_per_request: int = Field(10, ge=1, le=100)
    max_videos_per_session: int = Field(20, ge=1, le=1000)
    max_transcript_seconds: int = Field(4 * 3600, ge=60)
    max_chunks_per_video: int = Field(3000, ge=1, le=100_000)
    ingest_concurrency: int = Field(20, ge=1, le=100)
    # Ingestion runs in a queue-triggered function; POST /api/videos waits this long for it, then answers 202.
    ingest_wait_seconds: float = Field(15, ge=0, le=200)
    ingest_queue_name: str = "video-ingest"
    # A pending video whose ingestion has made no progress for this long is failed (`ingest_timeout`).
    ingest_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    chunk_target_seconds: float = Field(10, gt=0, le=3600)
    chunk_target_chars: int = Field(300, ge=100, le=20_000)
    chunk_overlap_seconds: float = Field(0, ge=0, le=600)
    chunk_embed_following: int = Field(2, ge=0, le=10)

    # --- OpenAI / Azure OpenAI / OpenAI-compatible -----------------------------------------
    # OPENAI_KEY and OPENAI_BASE_URL serve both embeddings and chat unless EMBEDDING_* / CHAT_* say
    # otherwise; EMBEDDING_PROVIDER / CHAT_PROVIDER pick a provider, or `none`, instead of `auto`.
    openai_key: SecretStr | None = None
    openai_base_url: str | None = None
    embedding_provider_choice: ProviderChoice = Field("auto", validation_alias="embedding_provider")
    embedding_base_url: str | None = None
    embedding_key: SecretStr | None = None
    openai_embedding_model: str = "text-embedding-3-small"
    chat_provider_choice: ProviderChoice = Field("auto", validation_alias="chat_provider")
    chat_base_url: str | None = None
    chat_key: SecretStr | None = None
    openai_chat_model: str = "gpt-4o-mini"
    embedding_dimensions: int = Field(1536, ge=2, le=16_000)
    embedding_batch_size: int = Field(1024, ge=1, le=2048)
    openai_max_retries: int = Field(3, ge=0, le=10)
    openai_timeout_seconds: float = Field(60, gt=0, le=600)
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_embedding_deployment: str | None = None
    azure_openai_chat_deployment: str | None = None

    # --- chat -----------------------------------------------------------------------------
    retrieval_top_k: int = Field(6, ge=1, le=50)
    retrieval_fetch_k: int = Field(20, ge=1, le=500)
    retrieval_vector_weight: float = Field(0.7, ge=0, le=1)
    retrieval_context_seconds: float = Field(60, ge=0, le=600)
    chat_history_turns: int = Field(6, ge=0, le=50)
    chat_history_max_turns: int = Field(100, ge=1, le=10_000)
    chat_temperature: float = Field(0.0, ge=0, le=2)
    chat_max_tokens: int = Field(800, ge=16, le=16_000)
    chat_prompt_max_tokens: int = Field(4000, ge=500, le=100_000)

    # --- rate limits per client, spending limits of the whole service (0: unlimited) ----------
    # How many right-most X-Forwarded-For entries were appended by proxies we trust: Azure's front
    # end appends one (the address it was connected from); a proxy in front of it (Front Door, ...)
    # that appends the client's address makes two. The entry that many from the right is the client.
    trusted_proxy_count: int = Field(1, ge=1, le=10)
    rate_limit_sessions_per_hour: int = Field(60, ge=0)
    rate_limit_videos_per_hour: int = Field(100, ge=0)
    rate_limit_questions_per_minute: int = Field(30, ge=0)
    rate_limit_questions_per_hour: int = Field(300, ge=0)
    embedding_tokens_per_hour: int = Field(2_000_000, ge=0)
    embedding_tokens_per_day: int = Field(20_000_000, ge=0)
    chat_calls_per_hour: int = Field(500, ge=0)
    chat_calls_per_day: int = Field(5_000, ge=0)

    # --- the host's storage account (a platform setting: the queue of the ingestion) ---------
    # A connection string (`UseDevelopmentStorage=true`: Azurite), or, identity-based as on Azure,
    # AzureWebJobsStorage__accountName (or __queueServiceUri) with the app's managed identity.
    azure_web_jobs_storage: SecretStr | None = Field(None, validation_alias="AzureWebJobsStorage")
    azure_web_jobs_storage_account_name: str | None = Field(None, validation_alias="AzureWebJobsStorage__accountName")
    azure_web_jobs_storage_queue_service_uri: str | None = Field(
        None, validation_alias="AzureWebJobsStorage__queueServiceUri"
    )

    # --- LangChain --------------------------------------------------------------------------
    langchain_chat_message_table_name: str = "langchain_chat_message"

    @field_validator("pg_connection_string")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(to_psycopg_url(value.get_secret_value().strip()))

    @field_validator(
        "youtube_proxy_http_url",
        "youtube_proxy_https_url",
        "webshare_proxy_username",
        "webshare_proxy_password",
        "openai_key",
        "openai_base_url",
        "embedding_base_url",
        "embedding_key",
        "chat_base_url",
        "chat_key",
        "azure_openai_endpoint",
        "azure_openai_api_key",
        "azure_openai_embedding_deployment",
        "azure_openai_chat_deployment",
        "azure_web_jobs_storage",
        "azure_web_jobs_storage_account_name",
        "azure_web_jobs_storage_queue_service_uri",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("transcript_languages")
    @classmethod
    def _languages(cls, value: str) -> str:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        if not codes or not all(_LANGUAGE_CODE.match(code) for code in codes):
            raise ValueError("must be a comma-separated list of language codes, e.g. en,de")
        return ",".join(codes)

    @field_validator("http_auth_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("ingest_queue_name")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if not _QUEUE_NAME.match(value) or "--" in value:
            raise ValueError("must be a storage queue name: 3-57 lower-case letters, digits and single hyphens")
        return value

    @field_validator("langchain_chat_message_table_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a lower-case SQL identifier (letters, digits, _)")
        return value

    @field_validator("embedding_provider_choice", "chat_provider_choice", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() or "auto" if isinstance(value, str) else value

    @model_validator(mode="after")
    def _azure_complete(self) -> "Settings":
        purposes: list[tuple[Literal["embedding", "chat"], ProviderChoice]] = [
            ("embedding", self.embedding_provider_choice),
            ("chat", self.chat_provider_choice),
        ]
        for purpose, choice in purposes:
            if choice == "azure" and not (self.azure_openai_endpoint and self._azure_deployment(purpose)):
                raise ValueError(
                    f"{purpose.upper()}_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT and "
                    f"AZURE_OPENAI_{purpose.upper()}_DEPLOYMENT"
                )
        return self

    @property
    def default_languages(self) -> list[str]:
        return self.transcript_languages.split(",")

    @property
    def embedding_endpoint(self) -> Endpoint | None:
        """Where passages and questions are embedded; None: chunks are stored without embeddings and
        found by full-text search."""
        return self._endpoint("embedding")

    @property
    def chat_endpoint(self) -> Endpoint | None:
        """Where answers are written; None: answers are extractive (quoted sentences)."""
        return self._endpoint("chat")

    @property
    def embedding_provider(self) -> Provider | None:
        endpoint = self.embedding_endpoint
        return endpoint.provider if endpoint else None

    @property
    def chat_provider(self) -> Provider | None:
        endpoint = self.chat_endpoint
        return endpoint.provider if endpoint else None

    def _azure_deployment(self, purpose: Literal["embedding", "chat"]) -> str | None:
        return self.azure_openai_embedding_deployment if purpose == "embedding" else self.azure_openai_chat_deployment

    def _endpoint(self, purpose: Literal["embedding", "chat"]) -> Endpoint | None:
        """`auto`: Azure OpenAI when its endpoint and this purpose's deployment are set, else OpenAI
        (or a compatible server) when a key or a base URL is set, else none."""
        if purpose == "embedding":
            choice, url, key = self.embedding_provider_choice, self.embedding_base_url, self.embedding_key
            model = self.openai_embedding_model
        else:
            choice, url, key, model = (
                self.chat_provider_choice,
                self.chat_base_url,
                self.chat_key,
                self.openai_chat_model,
            )
        url, key = url or self.openai_base_url, key or self.openai_key
        deployment = self._azure_deployment(purpose)
        if choice == "auto":
            choice = "azure" if self.azure_openai_endpoint and deployment else "openai" if key or url else "none"
        if choice == "azure":
            assert deployment is not None  # checked when the settings are read
            return Endpoint("azure", deployment, self.azure_openai_endpoint, self.azure_openai_api_key)
        return Endpoint("openai", model, url, key) if choice == "openai" else None

    @property
    def embedding_model_id(self) -> str:
        """Identifies the vector space of stored embeddings: videos are shared only within one."""
        endpoint = self.embedding_endpoint
        return "none" if endpoint is None else f"{endpoint.provider}:{endpoint.model}:{self.embedding_dimensions}"

    @property
    def database_url(self) -> str | None:
        """SQLAlchemy URL of the app's database, or None for the embedded one."""
        return self.pg_connection_string.get_secret_value() if self.pg_connection_string else None


def setting_names() -> list[str]:
    """The name of every app setting (environment variable) the app reads, but the host's own
    (AzureWebJobsStorage*), which the platform sets."""
    names = [(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()]  # type: ignore[union-attr]
    return [name for name in names if not name.startswith("AZUREWEBJOBS")]


def load_settings() -> Settings:
    """Reads the settings, turning a validation failure into a message that names each bad setting."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(str(part) for part in error["loc"]).upper(), error["msg"])))
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"Invalid app settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
