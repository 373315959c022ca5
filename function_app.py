"""The Azure Functions app: one blueprint per service. Nothing else runs at import (cold start)."""

import azure.functions as func

from services.common import functions as common
from services.common.settings import get_settings
from services.sessions import functions as sessions
from services.video_rag import functions as video_rag

app = func.FunctionApp(http_auth_level=get_settings().http_auth_level)
app.register_functions(common.bp)
app.register_functions(sessions.bp)
app.register_functions(video_rag.bp)
