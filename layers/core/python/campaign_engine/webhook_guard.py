"""Where a webhook may point: HTTPS to a public address, never into the function's own runtime or network.

A webhook URL is a request the stack makes on a caller's behalf (server-side request forgery is the
risk): to the instance metadata service (169.254.169.254), to a VPC's private ranges, to loopback
(the Lambda runtime API listens there), to carrier-grade NAT, multicast or reserved space, or to
IPv6's unique-local, link-local and IPv4-mapped forms of the same. So:

- the URL is `https://host[:port]/path` - no credentials in it, no fragment, at most 2,048 characters;
- the host is refused by name when it is one of the local names (`localhost`, `*.localhost`,
  `*.internal`, ...), and refused by address when it is an IP literal in a blocked range;
- at send time the name is resolved, every address it resolves to must be public (a name with one
  private address among public ones is refused: which one a connection would use is not ours to
  choose), and the connection is made to the address that was checked (`Target.ip`) with the URL's
  host kept for TLS (SNI, certificate) and the Host header, so that a second resolution (DNS
  rebinding) cannot swap in another address.

The local stack alone sets WEBHOOKS_LOCAL_RECEIVER (its own receiver, `http://127.0.0.1:<port>/_local/
webhooks/`): a URL under that prefix is allowed over HTTP to loopback. template.yaml never sets it, so
in AWS loopback is refused like the rest.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import unquote, urlsplit

import msgspec

MAX_URL_LENGTH = 2048
# Special-purpose names that resolve (or are meant to resolve) inside the network they are asked from.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".lan")
# Ranges Python's ipaddress does not flag by itself, or flags differently across versions.
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and broadcast
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
    )
)
# IPv6 forms that carry an IPv4 address inside: the embedded address is judged too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], list[str]]


class RefusedUrl(Exception):
    """The URL may not be called; the message says why (it names no address of a person)."""


class Target(msgspec.Struct, frozen=True):
    """Where a checked URL is sent: connect to `ip`, speak TLS and HTTP to `host`."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as the request line carries them
    ip: str


def blocked_reason(address: str) -> str | None:
    """Why this IP address may not be called (None: a public address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(str(embedded))
            return f"embeds an IPv4 address that {inner}" if inner else None
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_link_local:
        return "is a link-local address (such as the instance metadata service)"
    if ip.is_multicast:
        return "is a multicast address"
    if ip.is_unspecified:
        return "is the unspecified address"
    if ip.is_private or any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version):
        return "is a private, shared or reserved address"
    if ip.is_reserved or not ip.is_global:
        return "is a reserved address"
    return None


def _local_receiver_match(url: str, receiver: str) -> bool:
    """The local stack's own receiver: same scheme, host and port, a path under its prefix, no dot segments."""
    if not receiver:
        return False
    got, allowed = urlsplit(url), urlsplit(receiver)
    try:
        same_port = got.port == allowed.port
    except ValueError:
        return False
    return (
        got.scheme == allowed.scheme
        and got.hostname == allowed.hostname
        and same_port
        and got.username is None
        and got.path.startswith(allowed.path)
        and ".." not in unquote(got.path).split("/")
    )


def url_problem(url: str, *, local_receiver: str = "") -> str | None:
    """What is wrong with the URL itself, without resolving it (None: it may be tried)."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "must not contain spaces or control characters"
    if _local_receiver_match(url, local_receiver):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() != "https":
        return "must be an https:// URL"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    if parts.fragment:
        return "must not have a #fragment"
    if port == 0:
        return "must not use port 0"
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or ("." not in host and ":" not in host):
        return "must name a public host, not a local name"
    if _is_ip_literal(host) and (reason := blocked_reason(host)):
        return f"points at {host}, which {reason}"
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to (the system's resolver: what a connection would use)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


WRITE_RESOLVE_SECONDS = 2.0


def check_at_write(url: str, *, local_receiver: str = "", resolver: Resolver | None = None) -> str | None:
    """When a webhook is set: the URL's problem, or that its name resolves to a blocked address.
    A name that does not resolve (yet), or not within WRITE_RESOLVE_SECONDS, is accepted: it is resolved
    and checked again on every send, where it counts."""
    if problem := url_problem(url, local_receiver=local_receiver):
        return problem
    if _local_receiver_match(url, local_receiver):
        return None
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(resolve, url, resolver=resolver).result(timeout=WRITE_RESOLVE_SECONDS)
    except RefusedUrl as refused:
        return None if str(refused).startswith("does not resolve") else str(refused)
    except FutureTimeout:
        return None
    finally:
        pool.shutdown(wait=False)
    return None


def resolve(url: str, *, local_receiver: str = "", resolver: Resolver | None = None) -> Target:
    """The checked target of a send; raises RefusedUrl. Every address of the name must be public."""
    if problem := url_problem(url, local_receiver=local_receiver):
        raise RefusedUrl(problem)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        addresses = [host] if _is_ip_literal(host) else (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError) as error:
        raise RefusedUrl(f"does not resolve ({type(error).__name__})") from error
    if not addresses:
        raise RefusedUrl("does not resolve (no address)")
    if not _local_receiver_match(url, local_receiver):
        for address in addresses:
            if reason := blocked_reason(address):
                raise RefusedUrl(f"resolves to {address}, which {reason}")
    return Target(scheme=scheme, host=host, port=port, path=path, ip=addresses[0])
