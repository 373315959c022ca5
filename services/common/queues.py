"""Azure Storage queues of the host's storage account (the `AzureWebJobsStorage` connection): where
the app sends the messages its queue-triggered functions work on.

Messages are base64-encoded text, the encoding the Functions host expects by default (host.json
`extensions.queues.messageEncoding`). The client is azure-storage-queue's synchronous one, run in a
worker thread (its asynchronous one needs aiohttp, which nothing else here does).
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.common.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

# azure-core logs every request and response at INFO: a poll of the queue every few seconds.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

_clients: dict[tuple[str, str], "QueueClient"] = {}
_lock = threading.Lock()


def queue_client(settings: Settings, queue_name: str) -> "QueueClient":
    """A client of `queue_name` (one per process, shared by every thread): by the connection string of
    AzureWebJobsStorage, or by the app's identity and AzureWebJobsStorage__accountName (or
    __queueServiceUri), as the host connects."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    connection = settings.azure_web_jobs_storage.get_secret_value() if settings.azure_web_jobs_storage else None
    account = settings.azure_web_jobs_storage_account_name
    service_uri = settings.azure_web_jobs_storage_queue_service_uri or (
        f"https://{account}.queue.core.windows.net" if account else None
    )
    where = connection or service_uri
    if where is None:
        raise ConfigurationError(
            "AzureWebJobsStorage (or AzureWebJobsStorage__accountName) is needed for the ingestion queue"
        )
    with _lock:
        if (where, queue_name) not in _clients:
            encode, decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
            if connection:
                client = QueueClient.from_connection_string(
                    connection, queue_name, message_encode_policy=encode, message_decode_policy=decode
                )
            else:
                from azure.identity import DefaultAzureCredential

                assert service_uri is not None
                client = QueueClient(
                    service_uri,
                    queue_name,
                    credential=DefaultAzureCredential(),
                    message_encode_policy=encode,
                    message_decode_policy=decode,
                )
            _clients[(where, queue_name)] = client
        return _clients[(where, queue_name)]


class StorageQueue:
    """Sends text messages to one queue (created on first use where it is missing: locally; on Azure
    the template creates it)."""

    def __init__(self, settings: Settings, queue_name: str) -> None:
        self._settings = settings
        self._queue_name = queue_name

    async def send(self, messages: Sequence[str]) -> None:
        await asyncio.to_thread(self._send, messages)

    def _send(self, messages: Sequence[str]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        client = queue_client(self._settings, self._queue_name)
        for message in messages:
            try:
                client.send_message(message)
            except ResourceNotFoundError:
                create_queue(client)
                client.send_message(message)


def create_queue(client: "QueueClient") -> None:
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
