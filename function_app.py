"""The Azure Functions app: one blueprint per service, and the OpenAPI document above them. Nothing
else runs at import (cold start): on Azure, the Functions Python worker itself sends our OpenTelemetry
spans and logs to Application Insights (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY, README
"Observability")."""

import azure.functions as func

from services import openapi
from services.common import functions as common
from services.common.settings import get_settings
from services.sessions import functions as sessions
from services.video_rag import functions as video_rag

app = func.FunctionApp(http_auth_level=get_settings().http_auth_level)
app.register_functions(common.bp)
app.register_functions(sessions.bp)
app.register_functions(video_rag.bp)
app.register_functions(openapi.bp)

# What hangs off a session goes with it (DeleteSession, the expiry timer): its videos and conversation.
sessions.delete_with_sessions(video_rag.session_data)
