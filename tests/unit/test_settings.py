"""Settings: names, documentation, and failing fast on wrong values."""

import json
import re
from pathlib import Path

import pytest

from services.common.settings import ConfigurationError, Settings, load_settings, setting_names, to_psycopg_url

ROOT = Path(__file__).resolve().parents[2]
NAMES = setting_names()


def test_every_setting_is_in_the_example_and_the_readme() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    readme = (ROOT / "README.md").read_text()

    assert [name for name in NAMES if name not in example] == []
    assert [name for name in NAMES if not re.search(rf"`{name}`", readme)] == []


def test_the_example_file_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in json.loads((ROOT / "local.settings.json.example").read_text())["Values"].items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.embedding_provider is None and settings.database_url is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d?sslmode=require", "postgresql+psycopg://u@h/d?sslmode=require"),
    ],
)
def test_connection_strings_in_both_established_forms(given: str, expected: str) -> None:
    assert to_psycopg_url(given) == expected
    assert Settings(pg_connection_string=given).database_url == expected


def test_wrong_values_fail_naming_the_setting_but_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_CONNECTION_STRING", "mysql://root:hunter2@db/x")
    monkeypatch.setenv("SESSION_EXPIRE_MINUTES", "0")
    monkeypatch.setenv("LANGCHAIN_CHAT_MESSAGE_TABLE_NAME", 'x"; DROP TABLE session; --')

    with pytest.raises(ConfigurationError) as error:
        load_settings()

    message = str(error.value)
    assert "PG_CONNECTION_STRING" in message and "SESSION_EXPIRE_MINUTES" in message
    assert "LANGCHAIN_CHAT_MESSAGE_TABLE_NAME" in message
    assert "hunter2" not in message and "DROP" not in message


def test_providers_follow_what_is_configured() -> None:
    assert Settings(openai_key="", openai_base_url="").embedding_provider is None
    assert Settings(openai_base_url="http://localhost:11434/v1").chat_provider == "openai"
    azure = Settings(azure_openai_endpoint="https://x.openai.azure.com", azure_openai_embedding_deployment="e")
    assert azure.embedding_provider == "azure" and azure.embedding_model_id == "azure:e:1536"
