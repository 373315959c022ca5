"""The Functions host drops the WHOLE app when a binding name and a parameter disagree: check every
registered function's bindings against its Python signature, and the HTTP functions' types as the
Python worker checks them with HTTP streams on (azure_functions_worker/bindings/meta.py: the trigger's
annotation against the extension's request type, the return annotation against its response types)."""

import inspect
import typing

import azure.functions as func
import pytest
from azurefunctions.extensions.base import HttpV2FeatureChecker, RequestTrackerMeta, ResponseTrackerMeta

from devhost.host import functions_of
from function_app import app

FUNCTIONS = functions_of(app)
OTHER_TRIGGER_TYPES = {"timerTrigger": func.TimerRequest, "queueTrigger": func.QueueMessage}


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
    hints = typing.get_type_hints(function.get_user_function())  # what the worker resolves
    if trigger.get_binding_name() == "httpTrigger":
        assert RequestTrackerMeta.check_type(hints[trigger.name])
        assert bindings["$return"].get_binding_name() == "http"
        assert ResponseTrackerMeta.check_type(hints["return"])
    else:
        assert hints[trigger.name] is OTHER_TRIGGER_TYPES[trigger.get_binding_name()] and "$return" not in bindings
    if "context" in signature.parameters:
        assert signature.parameters["context"].annotation is func.Context
    assert inspect.iscoroutinefunction(function.get_user_function())


def test_importing_the_app_turns_http_streams_on() -> None:
    """The worker serves HTTP functions through the extension only once its module is imported."""
    assert HttpV2FeatureChecker.http_v2_enabled()
