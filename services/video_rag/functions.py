"""HTTP functions of videos, transcripts and chat."""

import azure.functions as func

bp = func.Blueprint()
