"""The Functions host drops the WHOLE app when a binding name and a parameter disagree: check every
registered function's bindings against its Python signature."""

import inspect

import azure.functions as func
import pytest

from devhost.host import functions_of
from function_app import app

FUNCTIONS = functions_of(app)
TRIGGER_TYPES = {"httpTrigger": func.HttpRequest, "timerTrigger": func.TimerRequest, "queueTrigger": func.QueueMessage}


def test_app_registers_the_functions_of_the_api() -> None:
    names = {f.get_function_name() for f in FUNCTIONS}

    assert {"GetOrCreateSession", "DeleteSession", "Health", "OpenApi", "session_expire_timer", "IngestVideo"} <= names


def test_the_ingestion_queue_trigger_reads_its_queue_from_the_settings_on_the_hosts_storage() -> None:
    (ingest,) = [f for f in FUNCTIONS if f.get_function_name() == "IngestVideo"]
    binding = ingest.get_trigger().get_dict_repr()

    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == "%INGEST_QUEUE_NAME%" and binding["connection"] == "AzureWebJobsStorage"


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.get_function_name())
def test_bindings_match_the_signature(function) -> None:
    signature = inspect.signature(function.get_user_function())
    parameters = {name for name in signature.parameters if name != "context"}
    bindings = {b.name: b for b in function.get_bindings()}
    trigger = function.get_trigger()

    assert parameters == {name for name in bindings if name != "$return"}
    annotation = signature.parameters[trigger.name].annotation
    assert annotation is TRIGGER_TYPES[trigger.get_binding_name()]
    if "$return" in bindings:
        assert bindings["$return"].get_binding_name() == "http"
        assert signature.return_annotation is func.HttpResponse
    if "context" in signature.parameters:
        assert signature.parameters["context"].annotation is func.Context
    assert inspect.iscoroutinefunction(function.get_user_function())
