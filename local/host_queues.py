"""Queue triggers and queue outputs against Azure Storage (Azurite locally).

Mirrors the storage extension's queue listener: one poller per queue fetching `batchSize`
messages, fetching again when in-flight work drops to `newBatchThreshold`, exponential back-off
up to `maxPollingInterval` while empty, `visibilityTimeout` before a failed message is retried,
and the ORIGINAL message text copied to `<queue>-poison` once `maxDequeueCount` is reached.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from local.host_invoke import Invoker, host_traceparent
from local.host_model import FunctionInfo, OutputBinding, QueueOptions, Settings

log = logging.getLogger("local.host")

MIN_POLLING_INTERVAL = 0.1  # the extension's minimum, seconds
LEASE_SECONDS = 600  # messages are held invisible this long while a function runs


class QueueClients:
    """Queue clients per (connection string, queue), creating each queue once, as the host does."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._services: dict[str, QueueServiceClient] = {}
        self._ready: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def get(self, connection: str, queue: str, create: bool = True) -> QueueClient:
        conn = self._settings.connection_string(connection, f"queue '{queue}'")
        with self._lock:
            service = self._services.get(conn)
            if service is None:
                service = self._services[conn] = QueueServiceClient.from_connection_string(conn)
            client = service.get_queue_client(queue)
            if create and (conn, queue) not in self._ready:
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._ready.add((conn, queue))
        return client

    def close(self) -> None:
        for service in self._services.values():
            service.close()
        self._services.clear()


def encode_message(value: Any, encoding: str) -> list[str]:
    """Message texts for a queue output value (str, bytes, QueueMessage or a list of them)."""
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in encode_message(item, encoding)]
    if isinstance(value, QueueMessage) or hasattr(value, "get_body"):
        value = value.get_body()
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"a queue output got {type(value).__name__}; expected str, bytes or QueueMessage")
    return [base64.b64encode(value).decode("ascii") if encoding == "base64" else bytes(value).decode("utf-8")]


def decode_message(text: str, encoding: str) -> bytes:
    """The message body the function sees; invalid base64 raises ValueError like the host's binding."""
    if encoding != "base64":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"message is not valid base64: {exc}") from None


class QueueOutputs:
    """Sends output-binding values and wakes a local poller of the same queue, as the host's watcher does."""

    def __init__(self, clients: QueueClients, options: QueueOptions) -> None:
        self._clients = clients
        self._options = options
        self.pollers: dict[str, QueuePoller] = {}

    def send(self, binding: OutputBinding, value: Any) -> None:
        assert binding.queue_name and binding.connection
        client = self._clients.get(binding.connection, binding.queue_name)
        for text in encode_message(value, self._options.message_encoding):
            client.send_message(text)
        poller = self.pollers.get(binding.queue_name)
        if poller:
            poller.wake()


class QueuePoller:
    """One thread polling one trigger queue, dispatching messages to the invoker's pool."""

    def __init__(self, info: FunctionInfo, clients: QueueClients, options: QueueOptions,
                 invoker: Invoker, stopping: threading.Event) -> None:
        assert info.queue_name and info.connection
        self.info = info
        self.queue = info.queue_name
        self._client = clients.get(info.connection, self.queue)
        self._poison = clients.get(info.connection, f"{self.queue}-poison", create=False)
        self._clients = clients
        self._options = options
        self._invoker = invoker
        self._stopping = stopping
        self._wake = threading.Event()
        self._pending = 0
        self._pending_changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"local.host-queue-{self.queue}")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.wake()
        with self._pending_changed:
            self._pending_changed.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def wake(self) -> None:
        """Poll now instead of finishing the back-off sleep (new work was just enqueued locally)."""
        self._wake.set()

    def approximate_count(self) -> int:
        """Messages in the queue, visible or not (what ApproximateMessagesCount reports)."""
        return int(self._client.get_queue_properties().approximate_message_count or 0)

    def _run(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while not self._stopping.is_set():
            self._wait_for_capacity()
            if self._stopping.is_set():
                return
            try:
                messages = list(self._client.receive_messages(
                    messages_per_page=self._options.batch_size, max_messages=self._options.batch_size,
                    visibility_timeout=LEASE_SECONDS))
            except Exception as exc:  # storage hiccup: back off and try again, like the listener
                log.warning("queue poll failed queue=%s error=%r", self.queue, exc)
                messages = []
            if messages:
                delay = MIN_POLLING_INTERVAL
                self._dispatch(messages)
                continue
            self._wake.wait(delay)
            if self._wake.is_set():
                self._wake.clear()
                delay = MIN_POLLING_INTERVAL
            else:
                delay = min(delay * 2, self._options.max_polling_interval)

    def _wait_for_capacity(self) -> None:
        """Fetch the next batch only when in-flight messages are down to newBatchThreshold."""
        with self._pending_changed:
            while self._pending > self._options.new_batch_threshold and not self._stopping.is_set():
                self._pending_changed.wait(0.5)

    def _dispatch(self, messages: list[Any]) -> None:
        with self._pending_changed:
            self._pending += len(messages)
        for message in messages:
            self._invoker.submit(functools.partial(self._handle, message))

    def _handle(self, message: Any) -> None:
        try:
            with self._invoker.activity.busy():
                self._process(message)
        except Exception:
            log.exception("queue settle failed queue=%s id=%s", self.queue, message.id)
        finally:
            with self._pending_changed:
                self._pending -= 1
                self._pending_changed.notify_all()

    def _process(self, message: Any) -> None:
        if self._stopping.is_set():  # host stopping: hand the message back untouched
            self._client.update_message(message.id, pop_receipt=message.pop_receipt, visibility_timeout=0)
            return
        if message.dequeue_count > self._options.max_dequeue_count:
            self._to_poison(message)
            return
        self._settle(message, self._invoke(message))

    def _invoke(self, message: Any) -> bool:
        try:
            body = decode_message(message.content, self._options.message_encoding)
        except ValueError as exc:
            self._invoker.activity.record(False)
            log.error("invocation function=%s trigger=queueTrigger outcome=failed queue=%s message_id=%s "
                      "dequeue_count=%s error=%s", self.info.name, self.queue, message.id, message.dequeue_count, exc)
            return False
        trigger = QueueMessage(
            id=message.id, body=body, dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on, insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt)
        return self._invoker.invoke(self.info, trigger, host_traceparent()).ok

    def _settle(self, message: Any, ok: bool) -> None:
        """Delete on success; on failure retry after visibilityTimeout or move to poison."""
        if ok:
            self._client.delete_message(message.id, message.pop_receipt)
        elif message.dequeue_count >= self._options.max_dequeue_count:
            self._to_poison(message)
        else:
            self._client.update_message(message.id, pop_receipt=message.pop_receipt,
                                        visibility_timeout=int(round(self._options.visibility_timeout)))

    def _to_poison(self, message: Any) -> None:
        """Copy the original text to <queue>-poison (created on first use) and delete the original."""
        try:
            self._poison.create_queue()
        except ResourceExistsError:
            pass
        self._poison.send_message(message.content)
        self._client.delete_message(message.id, message.pop_receipt)
        log.warning("message moved to poison queue=%s poison=%s message_id=%s dequeue_count=%s",
                    self.queue, self._poison.queue_name, message.id, message.dequeue_count)
