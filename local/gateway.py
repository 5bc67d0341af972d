"""An HTTP server that behaves like API Gateway HTTP API in front of the template's functions.

Requests become payload-format-2.0 events, Lambda authorizers get payload-2.0 REQUEST
events with simple responses (cached per identity source), and the gateway's own answers
(404, 401, 403, 413, 500) have API Gateway's bodies, so handler code sees what it will in AWS.
A path with a trailing slash that no route matches takes the route of the path without it, as in
API Gateway (Gateway.route_for).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.functions import LocalFunction
from local.template import ACCOUNT_ID, API_ID, REGION, Authorizer, HttpRoute

log = logging.getLogger("local.gateway")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded")
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ","
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: base64.b64encode(uuid.uuid4().bytes[:10]).decode())
    received: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def message(cls, status: int, message: str) -> Response:
        """API Gateway's own answers, e.g. 404 {"message": "Not Found"}."""
        return cls(status, [("content-type", "application/json")], json.dumps({"message": message}).encode())


@dataclass(frozen=True)
class Route:
    spec: HttpRoute
    target: LocalFunction
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]

    @classmethod
    def compile(cls, spec: HttpRoute, target: LocalFunction) -> Route:
        if spec.path == "$default":
            return cls(spec, target, re.compile(".*"), ())
        pieces, parameters = [], []
        for segment in spec.path.strip("/").split("/"):
            variable = re.fullmatch(r"\{([^}+]+)(\+?)\}", segment)
            if variable:
                parameters.append(variable.group(1))
                pieces.append("(.+)" if variable.group(2) else "([^/]+)")
            else:
                pieces.append(re.escape(segment))
        return cls(spec, target, re.compile("/" + "/".join(pieces)), tuple(parameters))

    @property
    def specificity(self) -> tuple[bool, bool, int, bool]:
        """Sort key: API Gateway prefers literal paths, then fewer variables, then greedy ones,
        then an exact method over ANY, and $default last."""
        greedy = "+}" in self.spec.path
        return (self.spec.path == "$default", greedy, len(self.parameters), self.spec.method == "ANY")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.spec.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in zip(self.parameters, found.groups(), strict=True)}


class LambdaAuthorizer:
    """A REQUEST authorizer with simple responses, cached per identity-source value."""

    def __init__(self, spec: Authorizer, function: LocalFunction) -> None:
        self.spec = spec
        self.function = function
        self._cache: dict[tuple[str, ...], tuple[float, bool, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def authorize(self, request: Request, event: dict[str, Any]) -> dict[str, Any] | Response:
        """The authorizer's context when allowed, else the gateway's answer."""
        identity = tuple(request.headers.get(name, "") for name in self.spec.identity_headers)
        if not all(identity):
            return Response.message(401, "Unauthorized")  # the authorizer is not even called
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(identity)
        if cached and cached[0] > now:
            allowed, context = cached[1], cached[2]
        else:
            route = event["routeKey"].replace(" ", "")
            authorizer_event = {
                **event,
                "type": "REQUEST",
                "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/{route}",
                "identitySource": list(identity),
            }
            try:
                result = self.function.invoke(authorizer_event)
                allowed, context = bool(result["isAuthorized"]), dict(result.get("context") or {})
            except Exception:
                log.exception("authorizer %s failed", self.spec.name)
                return Response.message(500, "Internal Server Error")
            if self.spec.ttl_seconds > 0:
                with self._lock:
                    self._cache[identity] = (now + self.spec.ttl_seconds, allowed, context)
        return context if allowed else Response.message(403, "Forbidden")


class Gateway:
    def __init__(
        self,
        routes: Iterable[Route],
        authorizers: dict[str, LambdaAuthorizer],
        host: str = "127.0.0.1",
        port: int = 3000,
    ) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity)
        self.authorizers = authorizers
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"  # nosec B101  # a local-stack precondition
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        try:
            self._server = ThreadingHTTPServer(self._address, _handler_class(self))
        except OSError as error:
            raise OSError(f"cannot serve on {self._address[0]}:{self._address[1]}: {error.strerror}") from error
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None  # nosec B101  # narrows a type
            self._thread.join()
            self._server = None

    # -- one request --------------------------------------------------------

    def route_for(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route a request takes, and its path parameters. As API Gateway does, a path with a trailing
        slash no route matches (no route's path may end in "/") takes the route of the path without it;
        the event's rawPath keeps the slash (GET /console/ is GET /console, rawPath /console/)."""
        found = self._first_match(method, raw_path)
        if (found is None or found[0].spec.path == "$default") and len(raw_path) > 1 and raw_path.endswith("/"):
            trimmed = self._first_match(method, raw_path[:-1])
            if trimmed is not None and trimmed[0].spec.path != "$default":
                return trimmed
        return found

    def _first_match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            path_parameters = route.match(method, raw_path)
            if path_parameters is not None:
                return route, path_parameters
        return None

    def handle(self, request: Request) -> Response:
        found = self.route_for(request.method, request.raw_path)
        if found is None:
            return Response.message(404, "Not Found")
        route, path_parameters = found
        event = self._event(request, route, path_parameters)
        if route.spec.authorizer is not None:
            outcome = self.authorizers[route.spec.authorizer.name].authorize(request, event)
            if isinstance(outcome, Response):
                return outcome
            event["requestContext"]["authorizer"] = {"lambda": outcome}
        event.update(_body_fields(request))
        try:
            return _to_response(route.target.invoke(event))
        except Exception:
            log.exception("%s failed on %s %s", route.target.logical_id, request.method, request.raw_path)
            return Response.message(500, "Internal Server Error")

    def _event(self, request: Request, route: Route, path_parameters: dict[str, str]) -> dict[str, Any]:
        """The payload-2.0 fields an integration and a REQUEST authorizer share."""
        headers = {name: value for name, value in request.headers.items() if name != "cookie"}
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default" if route.spec.path == "$default" else route.spec.route_key,
            "rawPath": request.raw_path,
            "rawQueryString": request.raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "domainName": request.headers.get("host", "127.0.0.1"),
                "domainPrefix": request.headers.get("host", "127").split(".")[0],
                "http": {
                    "method": request.method,
                    "path": request.raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.source_ip,
                    "userAgent": request.headers.get("user-agent", ""),
                },
                "requestId": request.request_id,
                "routeKey": "$default" if route.spec.path == "$default" else route.spec.route_key,
                "stage": "$default",
                "time": request.received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(request.received.timestamp() * 1000),
            },
        }
        # API Gateway leaves absent collections out of the event rather than sending them empty.
        if "cookie" in request.headers:
            event["cookies"] = [c.strip() for c in request.headers["cookie"].split(";") if c.strip()]
        if query:
            event["queryStringParameters"] = {name: ",".join(values) for name, values in query.items()}
        if path_parameters:
            event["pathParameters"] = path_parameters
        return event


def _body_fields(request: Request) -> dict[str, Any]:
    if not request.body:
        return {"isBase64Encoded": False}
    content_type = request.headers.get("content-type", "text/plain").lower()
    if any(kind in content_type for kind in _TEXT_TYPES):
        try:
            return {"body": request.body.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {"body": base64.b64encode(request.body).decode(), "isBase64Encoded": True}


def _to_response(result: Any) -> Response:
    """Translate a payload-2.0 answer; without statusCode, API Gateway takes the value as a JSON body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(200, [("content-type", "application/json")], text.encode())
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise TypeError(f"body must be a string, not {type(body).__name__}")
    headers = [
        (str(name).lower(), str(value))
        for name, value in (result.get("headers") or {}).items()
        if str(name).lower() not in _HOP_BY_HOP
    ]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return Response(int(result["statusCode"]), headers, data)


class _TooLarge(Exception):
    pass


# A client that writes a whole oversized body before it reads must still get its 413: the answer goes
# out first, then what the client still sends is read and dropped (closing on unread data resets
# the connection, and such a client saw a broken pipe instead of the answer). Bounded in bytes and
# in idle time, for a client that sends forever or never.
MAX_DRAINED_BYTES = 8 * MAX_BODY_BYTES
DRAIN_IDLE_SECONDS = 5.0


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients and benchmarks expect
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
        # client's delayed ACK, about 40 ms per answer on a kept-alive connection.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            started = time.monotonic()
            raw_path, _, raw_query = self.path.partition("?")
            headers: dict[str, str] = {}
            for original, value in self.headers.items():
                name = original.lower()
                headers[name] = f"{headers[name]},{value}" if name in headers else value
            too_large = False
            try:
                body = self._read_body()
            except _TooLarge:
                # The rest of the body is not parsed, so this connection cannot carry another request.
                too_large = self.close_connection = True
                response = Response.message(413, "Request Entity Too Large")
            else:
                request = Request(self.command, raw_path, raw_query, headers, body, self.client_address[0])
                response = gateway.handle(request)
                response.headers.append(("apigw-requestid", request.request_id))
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            elapsed_ms = (time.monotonic() - started) * 1000
            log.info("%s %s %d %.0fms", self.command, raw_path, response.status, elapsed_ms)
            if too_large:
                self.wfile.flush()
                self._drop_the_rest()

        def _drop_the_rest(self) -> None:
            self.connection.settimeout(DRAIN_IDLE_SECONDS)
            dropped = 0
            try:
                while dropped < MAX_DRAINED_BYTES and (data := self.rfile.read1(1024 * 1024)):
                    dropped += len(data)
            except OSError:
                pass  # idle too long, or gone: nothing more to wait for

        def handle_expect_100(self) -> bool:
            """A client that waits for "100 Continue" is refused on the length alone, before it sends."""
            if int(self.headers.get("content-length") or 0) > MAX_BODY_BYTES:
                return True  # no 100 Continue: the 413 comes instead
            return super().handle_expect_100()

        def _read_body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks, size = [], 0
                while chunk_size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    size += chunk_size
                    if size > MAX_BODY_BYTES:
                        raise _TooLarge
                    chunks.append(self.rfile.read(chunk_size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                raise _TooLarge
            return self.rfile.read(length) if length else b""

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the routes, TRACE and made-up ones too: as in API Gateway, a method
            # no route has is a 404 (an ANY route takes it), never the server's own 501 page.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler
