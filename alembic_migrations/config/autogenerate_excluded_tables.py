"""Tables LangChain creates and manages itself. Autogenerate must never propose to create, alter or
drop them."""

from services.common.settings import get_settings


def excluded_tables() -> set[str]:
    return {get_settings().langchain_chat_message_table_name}
