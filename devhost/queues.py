"""Queue triggers as the Functions host runs them, against an Azure Storage queue (Azurite locally):
messages fetched in batches of `batchSize`, another batch once no more than `newBatchThreshold` are in
flight, polling backed off up to `maxPollingInterval` while the queue is empty; a message hidden while
its function runs (and kept hidden while it runs long), deleted when the function returns, made
visible again after `visibilityTimeout` when it raises, and moved to `<queue>-poison` after
`maxDequeueCount` deliveries; bodies base64-decoded unless `messageEncoding` is `none` (host.json
`extensions.queues`, with the host's defaults)."""

import asyncio
import base64
import binascii
import logging
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from azure.functions.decorators.function_app import Function
from azure.functions.queue import QueueMessage

from devhost.host import invoke, name_of, resolve_setting, trigger_of

logger = logging.getLogger("devhost")
# azure-core logs every request and response at INFO: a poll of the queue every few seconds.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

PROCESSING_VISIBILITY_SECONDS = 600  # hidden this long while the function runs, renewed halfway
FIRST_POLL_SECONDS = 0.1
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def seconds_of(value: Any) -> float:
    """A host.json duration: "hh:mm:ss" (or "d.hh:mm:ss"), or milliseconds as a number."""
    if isinstance(value, int | float):
        return float(value) / 1000
    match = _TIMESPAN.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
    ).total_seconds()


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def of(cls, host_json: dict[str, Any]) -> "QueueOptions":
        queues = host_json.get("extensions", {}).get("queues", {})
        batch_size = int(queues.get("batchSize", 16))
        return cls(
            batch_size=batch_size,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch_size // 2)),
            max_polling_interval=seconds_of(queues.get("maxPollingInterval", 60_000)),
            visibility_timeout=seconds_of(queues.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
        )


class QueueRunner:
    """Runs one queue-triggered function on its queue until cancelled."""

    def __init__(self, function: Function, options: QueueOptions, directory: str) -> None:
        trigger = trigger_of(function)
        self.function = function
        self.options = options
        self.directory = directory
        self.queue_name = resolve_setting(trigger.queue_name)
        self.connection = _connection(trigger.connection or "AzureWebJobsStorage")

    async def run(self) -> None:
        from azure.storage.queue import QueueClient

        queue = QueueClient.from_connection_string(self.connection, self.queue_name)
        poison = QueueClient.from_connection_string(self.connection, f"{self.queue_name}-poison")
        for client in (queue, poison):
            await asyncio.to_thread(_create, client)
        in_flight: set[asyncio.Task[None]] = set()
        pause = FIRST_POLL_SECONDS
        try:
            while True:
                if len(in_flight) > self.options.new_batch_threshold:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                messages = await asyncio.to_thread(self._receive, queue)
                if not messages:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, self.options.max_polling_interval)
                    continue
                pause = FIRST_POLL_SECONDS
                for message in messages:
                    task = asyncio.create_task(self._process(queue, poison, message))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _receive(self, queue: Any) -> list[Any]:
        return list(
            queue.receive_messages(
                max_messages=self.options.batch_size,
                messages_per_page=self.options.batch_size,
                visibility_timeout=PROCESSING_VISIBILITY_SECONDS,
            )
        )

    async def _process(self, queue: Any, poison: Any, message: Any) -> None:
        name = name_of(self.function)
        if message.dequeue_count > self.options.max_dequeue_count:  # its function never returned (a crash)
            await self._to_poison(queue, poison, message)
            return
        try:
            body = self._decode(message.content)
        except ValueError:
            logger.error("queue %s: a message that is not %s-encoded goes to the poison queue", name, "base64")
            await self._to_poison(queue, poison, message)
            return
        trigger_value = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        receipt = {"pop_receipt": message.pop_receipt}
        keep_hidden = asyncio.create_task(self._keep_hidden(queue, message, receipt))
        try:
            await invoke(self.function, trigger_value, self.directory)
        except Exception as exc:  # noqa: BLE001 - a failed delivery: retried, or poisoned
            logger.warning("queue %s: delivery %d failed: %s", name, message.dequeue_count, type(exc).__name__)
            keep_hidden.cancel()
            if message.dequeue_count >= self.options.max_dequeue_count:
                await self._to_poison(queue, poison, message, receipt["pop_receipt"])
            else:
                await asyncio.to_thread(
                    queue.update_message,
                    message.id,
                    receipt["pop_receipt"],
                    visibility_timeout=int(self.options.visibility_timeout),
                )
            return
        keep_hidden.cancel()
        await asyncio.to_thread(queue.delete_message, message.id, receipt["pop_receipt"])

    async def _keep_hidden(self, queue: Any, message: Any, receipt: dict[str, str]) -> None:
        while True:
            await asyncio.sleep(PROCESSING_VISIBILITY_SECONDS / 2)
            updated = await asyncio.to_thread(
                queue.update_message,
                message.id,
                receipt["pop_receipt"],
                visibility_timeout=PROCESSING_VISIBILITY_SECONDS,
            )
            receipt["pop_receipt"] = updated.pop_receipt

    async def _to_poison(self, queue: Any, poison: Any, message: Any, pop_receipt: str | None = None) -> None:
        logger.warning(
            "queue %s: a message moved to %s after %d deliveries",
            name_of(self.function),
            poison.queue_name,
            message.dequeue_count,
        )
        await asyncio.to_thread(poison.send_message, message.content)  # as it came, encoded the same way
        await asyncio.to_thread(queue.delete_message, message.id, pop_receipt or message.pop_receipt)

    def _decode(self, content: str) -> bytes:
        if self.options.message_encoding == "none":
            return content.encode("utf-8")
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error:
            raise ValueError("not base64") from None


def _connection(setting: str) -> str:
    """The connection string of a trigger's `connection` (an app setting, or `<name>Storage` style)."""
    value = os.environ.get(setting) or os.environ.get(f"AzureWebJobs{setting}")
    if not value:
        raise RuntimeError(f"The app setting {setting} (the queue trigger's connection) is not set.")
    return value


def _create(client: Any) -> None:
    from azure.core.exceptions import ResourceExistsError

    try:
        client.create_queue()
    except ResourceExistsError:
        return
