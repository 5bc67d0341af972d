"""The webhooks function's HTTP: TLS to the address that was checked, with the URL's host for SNI, the
certificate and the Host header (so DNS rebinding cannot swap the address); no redirect followed."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from campaign_engine import webhook_sender
from campaign_engine.webhook_guard import Target

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


class TlsServer:
    def __init__(self, cert: Path, key: Path, status: int) -> None:
        self.seen: list[dict[str, Any]] = []
        self.server_names: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                server.seen.append({"path": self.path, "host": self.headers["Host"], "body": body})
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "https://hooks.test/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)  # type: ignore[assignment,func-returns-value]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=hooks.test",
            "-addext",
            "subjectAltName=DNS:hooks.test",
        ],
        check=True,
        capture_output=True,
    )
    trusting = ssl.create_default_context

    # The function trusts the system's CAs; here, this test's certificate instead.
    monkeypatch.setattr(webhook_sender.ssl, "create_default_context", lambda: trusting(cafile=str(cert)))
    return cert, key


@pytest.fixture
def server(certificate: tuple[Path, Path], request: pytest.FixtureRequest) -> Iterator[TlsServer]:
    running = TlsServer(*certificate, status=getattr(request, "param", 200))
    yield running
    running.close()


def test_tls_goes_to_the_checked_address_with_the_urls_host_for_sni_and_host_header(server: TlsServer) -> None:
    # hooks.test resolves nowhere: the connection can only reach the server through the checked address
    target = Target("https", "hooks.test", server.port, "/in?x=1", "127.0.0.1")
    status = webhook_sender.http_post(target, b'{"events":[]}', {"Content-Type": "application/json"})
    assert status == 200
    assert server.server_names == ["hooks.test"]
    assert server.seen == [{"path": "/in?x=1", "host": f"hooks.test:{server.port}", "body": b'{"events":[]}'}]


def test_a_certificate_for_another_name_is_refused(server: TlsServer) -> None:
    target = Target("https", "other.test", server.port, "/in", "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        webhook_sender.http_post(target, b"{}", {})
    assert server.seen == []


@pytest.mark.parametrize("server", [302], indirect=True)
def test_a_redirect_is_not_followed(server: TlsServer) -> None:
    target = Target("https", "hooks.test", server.port, "/in", "127.0.0.1")
    assert webhook_sender.http_post(target, b"{}", {}) == 302
    assert [seen["path"] for seen in server.seen] == ["/in"]
