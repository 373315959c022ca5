"""The Azure Functions app: one blueprint per service. Nothing else runs at import (cold start),
but Application Insights when it is configured."""

import azure.functions as func

from services.common import functions as common
from services.common.settings import get_settings
from services.common.telemetry import configure_azure_monitor
from services.sessions import functions as sessions
from services.video_rag import functions as video_rag

settings = get_settings()
if settings.applicationinsights_connection_string:  # Application Insights only when configured
    configure_azure_monitor(settings.applicationinsights_connection_string.get_secret_value())

app = func.FunctionApp(http_auth_level=settings.http_auth_level)
app.register_functions(common.bp)
app.register_functions(sessions.bp)
app.register_functions(video_rag.bp)
