"""The whole-run log audit (tests/conftest.py) catches what it is there for."""

import logging
import sys
import uuid

from tests.conftest import FAKE_OPENAI_KEY, LogAudit


def record(name: str, message: str, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]


def test_the_audit_flags_secrets_raw_ids_and_stack_traces_but_not_invocation_ids() -> None:
    audit = LogAudit()
    session_id, invocation = uuid.uuid4(), uuid.uuid4()
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()

    audit.emit(record("services.requests", f'{{"invocation_id": "{invocation}", "session": "ab12"}}'))
    audit.emit(record("services.http", f"unhandled ValueError in X (invocation {invocation})"))
    assert audit.problems == []

    audit.emit(record("services.sessions", f"session {session_id} expired"))
    audit.emit(record("httpx", f"Authorization: Bearer {FAKE_OPENAI_KEY}"))
    audit.emit(record("services.video_rag", "failed", exc_info))
    assert [problem.split(" in ")[0] for problem in audit.problems] == ["raw id", "secret", "stack trace"]
