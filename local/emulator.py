"""The embedded AWS emulator: moto in server mode, in this process, holding the template's resources."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from local import client, sqs_limits
from local.template import REGION, Template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("local.emulator")
# The emulator's HTTP server logs every AWS request: noise, and a cost on every call.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Fake credentials: moto accepts anything, and real ones must never reach it or AWS from here.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 # nosec B105  # not a secret, the emulator ignores it


def aws_client(service: str, endpoint_url: str) -> Any:
    """A client bound to the emulator at `endpoint_url`, whatever the process environment says."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


# DynamoDB applies each item write atomically; moto's in-process backend reads, changes and writes an
# item without a lock, and builds an UpdateItem's answer from the stored item after its backend call
# returns. Two threads adding to one counter (a throttle window) could lose an ADD, and a conditional
# update (a frequency cap's slot) could pass twice. These operations run one at a time instead.
_ITEM_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "query", "transact_write_items")
_item_lock = threading.RLock()


def atomic_item_operations() -> Callable[[], None]:
    """Serialises moto's DynamoDB item operations (handler and backend, the answer included), as
    DynamoDB serialises writes per item; returns the function that undoes it."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    originals: list[tuple[type, str, Any]] = []
    for cls in (DynamoHandler, DynamoDBBackend):
        for name in _ITEM_OPERATIONS:
            original = cls.__dict__[name]
            if getattr(original, "_atomic", False):
                continue  # already serialised (a stack started twice in one process)

            def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                with _item_lock:
                    return _original(self, *args, **kwargs)

            locked._atomic = True  # type: ignore[attr-defined]
            originals.append((cls, name, original))
            setattr(cls, name, locked)

    def undo() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)

    return undo


class _VisibleMessages:
    """A queue's visible messages, found as they are read: moto's ReceiveMessage walks this and
    stops after the messages it returns, where moto's own property first lists every visible
    message of the queue. With an audience's fan-out ahead of delivery (thousands of messages
    waiting), that list on every receive of every poller was most of the emulator's time."""

    def __init__(self, messages: list[Any]) -> None:
        self._messages = messages

    def __iter__(self) -> Any:
        return (m for m in self._messages if m.visible and not m.delayed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _visible_messages_as_read() -> None:
    from moto.sqs.models import Queue

    Queue.messages = property(lambda queue: _VisibleMessages(queue._messages))  # type: ignore[assignment,method-assign]


class _QueueAttributes(Mapping[str, Any]):
    """A queue's attributes, each worked out when read. Moto builds them all on every read, counting
    the queue's messages three ways (visible, in flight, delayed), and reads them on every SendMessage
    (ContentBasedDeduplication) and every message ReceiveMessage hands out (MessageRetentionPeriod):
    with 100,000 messages queued, each send and each receive walked the queue three times."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        names += queue.FIFO_ATTRIBUTES if queue.fifo_queue else []
        names += queue.KMS_ATTRIBUTES if queue.kms_master_key_id else []
        names += ["Policy"] if queue.policy else []
        names += ["RedrivePolicy"] if queue.redrive_policy else []
        return names

    def __getitem__(self, name: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if name not in self._names():
            raise KeyError(name)
        if name == "Policy":
            return self._queue.policy
        if name == "RedrivePolicy":
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def _queue_attributes_as_read() -> None:
    from moto.sqs.models import Queue, SQSBackend

    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > _now_ms() / 1000)

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


_querying = threading.local()


def _partition_queries() -> None:
    """A Query on a table's own key reads that partition. Moto lists and sorts every item of the
    table for each Query and then keeps one partition's: a 100,000-member audience made each page of
    its fan-out a sort of the whole table, under the item lock every claim of delivery waits on."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_by_partition", False):
        return
    query, all_items = Table.query, Table.all_items

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        by_index = kwargs.get("index_name") or (len(args) > 6 and args[6])
        _querying.partition = None if by_index or hash_key is None else hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _querying.partition = None

    def partition_items(self: Any) -> list[Any]:
        partition = getattr(_querying, "partition", None)
        if partition is None:
            return all_items(self)
        stored = self.items.get(partition)  # .get: the items are a defaultdict
        if stored is None:
            return []
        if not self.range_key_attr:
            return [stored]
        return sorted(stored.values(), key=lambda item: item.range_key)

    partition_query._by_partition = True  # type: ignore[attr-defined]
    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = partition_items  # type: ignore[method-assign]


# Receipt handle -> (queue, message), filled as ReceiveMessage hands messages out.
_by_receipt: dict[str, tuple[Any, Any]] = {}
_receiving = threading.local()


def _receipts_indexed() -> None:
    """DeleteMessage and ChangeMessageVisibility find a message by its receipt handle in a dict.
    Moto walks the whole queue for each (DeleteMessage twice, asking every message for the list
    of its handles): with a 100,000-member fan-out queued ahead of delivery, each delete cost a
    pass over 100,000 messages and delivery slowed to a quarter of its rate. A handle moto gave
    out otherwise (a queue moved to its DLQ, a purge) falls back to moto's own walk."""
    from moto.sqs.models import Message, Queue, SQSBackend

    if getattr(Queue.delete_message, "_indexed", False):
        return  # a stack started twice in one process
    receive, mark, delete, change = (
        SQSBackend.receive_message,
        Message.mark_received,
        Queue.delete_message,
        SQSBackend.change_message_visibility,
    )

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        _receiving.queue = self.get_queue(queue_name)
        try:
            return receive(self, queue_name, *args, **kwargs)
        finally:
            _receiving.queue = None

    def mark_received(self: Any, visibility_timeout: Any = None) -> None:
        mark(self, visibility_timeout)
        queue = getattr(_receiving, "queue", None)
        if queue is not None:
            _by_receipt[self.receipt_handle] = (queue, self)

    def delete_message(self: Any, receipt_handle: str) -> None:
        queue, message = _by_receipt.get(receipt_handle, (None, None))
        if queue is not self or receipt_handle in self.deleted_messages:
            return delete(self, receipt_handle)
        with self._messages_lock:
            try:
                self._messages.remove(message)  # received messages sit near the head: a short walk
            except ValueError:
                return delete(self, receipt_handle)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        for handle in message.all_receipt_handles:
            _by_receipt.pop(handle, None)
        return None

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue, message = _by_receipt.get(receipt_handle, (None, None))
        if queue is None or queue is not self.get_queue(queue_name):
            return change(self, queue_name, receipt_handle, visibility_timeout)
        if visibility_timeout * 1000 + _now_ms() - message.sent_timestamp > 43200 * 1000:
            return change(self, queue_name, receipt_handle, visibility_timeout)  # moto's own error
        message.change_visibility(visibility_timeout)
        if message.visible:
            queue.pending_messages.discard(message)
        return None

    delete_message._indexed = True  # type: ignore[attr-defined]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    Message.mark_received = mark_received  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]


def _now_ms() -> int:
    from moto.core.utils import unix_time_millis

    return int(unix_time_millis())


def _remember_dispatch(dispatcher: Any) -> None:
    """Moto's server finds each request's service under one process-wide lock, by matching the
    host against every service's URL patterns and listing its own package directory. At the local
    stack's rates that lock serialised every AWS call (most samples of a profile under load waited
    on it). For a SigV4-signed request the answer depends only on the signing scope, the host, the
    target's prefix and the first path segment, so it is looked up once per those."""
    resolve = dispatcher.get_application
    apps: dict[tuple[str, ...], Any] = {}

    def get_application(environ: dict[str, Any]) -> Any:
        authorization = environ.get("HTTP_AUTHORIZATION") or ""
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return resolve(environ)  # unsigned or SigV2: moto's own inference, uncached
        credential = authorization.split(",", 1)[0].split()[-1]  # Credential=KEY/date/region/service/aws4_request
        path = environ.get("PATH_INFO") or ""
        key = (
            credential.split("/", 2)[-1],
            str(environ.get("HTTP_HOST")),
            str(environ.get("HTTP_X_AMZ_TARGET") or "").split(".", 1)[0],
            path.split("/", 2)[1] if path.count("/") else path,
        )
        app = apps.get(key)
        if app is None:
            app = apps[key] = resolve(environ)
        return app

    dispatcher.get_application = get_application


# What the server itself sets on an answer it sends whole (Content-Length from the body it sends).
_FRAMING_HEADERS = {"content-length", "connection", "transfer-encoding"}
# A kept-alive connection is kept until its client closes it. A server closing an idle one races the
# client reusing it at that moment: the request is then never read, and the client sees the connection
# closed without an answer (botocore's ConnectionClosedError). A send failing so is ambiguous, recorded
# send_unconfirmed and never sent again: with a 60 s idle close, one recipient of a 100,000-member
# fan-out was lost that way (tests/e2e/test_local_emulator_connections.py). The clients
# bound to the emulator keep at most local.timeouts.POOL_CONNECTIONS each, and close them when dropped.
IDLE_CONNECTION_SECONDS = None


class _KeepAliveHandler(MotoRequestHandler):
    """Moto's request handler, keeping connections alive. Werkzeug's development server answers every
    request with `Connection: close` (it cannot tell where a body it did not read ends), so each AWS
    call of every function opened a TCP connection, and the server started a thread for it and
    waited up to 10 ms for the client to hang up: about a quarter of each request's CPU here.
    Here the body is read whole, by its Content-Length, before the application runs, and the answer
    goes out with its own Content-Length, so the connection is ready for the next request. A chunked
    or `Expect: 100-continue` request (boto3 sends neither to these services) takes werkzeug's path,
    which closes the connection as before."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK of the headers, about 40 ms per answer on a kept-alive connection.
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or self.headers.get("Expect"):
            return super().run_wsgi()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        environ = self.environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        answer: list[Any] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                getattr(result, "close", lambda: None)()
        except Exception:
            log.exception("the emulator failed on %s %s", self.command, self.path)
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks = [b"Internal Server Error"]
            self.close_connection = True
        self._answer(answer[0], answer[1], b"".join(chunks))
        return None

    def _answer(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        head = self.command == "HEAD"
        for name, value in headers:
            # A HEAD answer's Content-Length is the one a GET would have (S3's objects): the application's.
            if name.lower() not in _FRAMING_HEADERS or (head and name.lower() == "content-length"):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head and payload:
            self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Werkzeug formats a line per request (a date, the path) even with its logger quiet.
        if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
            super().log_request(code, size)


class _KeepAliveMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with _KeepAliveHandler (it names moto's handler in the method it runs)."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_KeepAliveHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option the server sets, so a port in TIME_WAIT counts as free as it will be.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Emulator:
    def __init__(self, port: int = 5000) -> None:
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None
        self._undo_atomic: Callable[[], None] = lambda: None
        self.url = ""

    def start(self) -> str:
        # ThreadedMotoServer waits forever when its thread cannot bind, so check the port first.
        port = self._requested_port
        if port and not _port_is_free(port):
            log.warning("port %d is busy; the emulator takes a free port instead", port)
            port = 0
        self._server = _KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._undo_atomic = atomic_item_operations()
        _visible_messages_as_read()
        _receipts_indexed()
        _partition_queries()
        _queue_attributes_as_read()
        self._server.start()
        _remember_dispatch(self._server._server.app)  # type: ignore[union-attr]
        host, bound_port = self._server.get_host_and_port()
        self.url = f"http://{host}:{bound_port}"
        # Moto's state is global to the process: start from nothing even if mocks used it before.
        client.request(self.url, "POST", "/moto-api/reset")
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._undo_atomic()

    def client(self, service: str) -> Any:
        return aws_client(service, self.url)

    def environment(self) -> dict[str, str]:
        """What the process needs so boto3 and Powertools in handler code need no local branch."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def create_resources(self, template: Template, sender_domains: list[str]) -> None:
        sqs_limits.install()  # the queues refuse what AWS's would: no test passes on moto's leniency
        self._create_tables(template)
        self._create_queues(template)
        secretsmanager = self.client("secretsmanager")
        for name, value in template.secrets():
            secretsmanager.create_secret(Name=name, SecretString=value)
        sesv2: SESV2Client = self.client("sesv2")
        for domain in sender_domains:
            sesv2.create_email_identity(EmailIdentity=domain)

    def _create_tables(self, template: Template) -> None:
        dynamodb: DynamoDBClient = self.client("dynamodb")
        for table in template.tables():
            ttl = table.pop("TimeToLiveSpecification", None)
            dynamodb.create_table(**table)
            if ttl:
                dynamodb.update_time_to_live(TableName=table["TableName"], TimeToLiveSpecification=ttl)

    def _create_queues(self, template: Template) -> None:
        sqs: SQSClient = self.client("sqs")
        # Redrive settings name other queues, which must exist first: create all, then link.
        links = {"RedrivePolicy", "RedriveAllowPolicy"}
        for queue in template.queues():
            own = {k: v for k, v in queue.attributes.items() if k not in links}
            url = sqs.create_queue(QueueName=queue.name, Attributes=own)["QueueUrl"]  # type: ignore[arg-type]
            expected = template.get_att(queue.logical_id, "QueueUrl")
            if url != expected:
                raise RuntimeError(f"{queue.logical_id}: the emulator answers {url}, the template resolves {expected}")
        for queue in template.queues():
            linked = {k: v for k, v in queue.attributes.items() if k in links}
            if linked:
                sqs.set_queue_attributes(QueueUrl=template.get_att(queue.logical_id, "QueueUrl"), Attributes=linked)  # type: ignore[arg-type]
