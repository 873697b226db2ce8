"""The HTTP POST of a delivery, with the address policy (``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``).

``http.client`` rather than a client library: one POST, no redirects followed (a redirect
could lead a delivery somewhere the URL check never saw), no proxy from the environment,
and the connection goes to an address this module resolved and checked itself, so a DNS
answer that changes between the check and the connect (rebinding) cannot slip past it.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import socket
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

#: At most this much of an answer is read (and a snippet of it kept for the log).
MAX_ANSWER_BYTES = 4096


class AddressNotAllowed(Exception):
    """The URL's host is (or resolves to) a private, loopback or otherwise local address."""


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one POST came to: a status code (and a snippet of the body), or an error."""

    status_code: int | None
    snippet: str
    error: str
    duration_ms: int
    #: an error that trying again cannot mend (a refused address, a URL that is no URL)
    permanent: bool = False


def is_public(address: str) -> bool:
    """Whether an IP address is one of the open internet (not LAN, loopback, link-local...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, *, allow_private: bool) -> list[tuple[int, tuple]]:  # type: ignore[type-arg]
    """(family, sockaddr) of each address of ``host``; refuses them all if any is local.

    All, not only the first: a name that resolves to one public and one private address
    would otherwise reach the private one on a second try.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:
        local = sorted({str(info[4][0]) for info in infos if not is_public(str(info[4][0]))})
        if local:
            raise AddressNotAllowed(
                f"{host} resolves to {', '.join(local)}, a private or local address; "
                "this server is set to deliver to public addresses only "
                "(WEBHOOK_ALLOW_PRIVATE_ADDRESSES)"
            )
    return [(info[0], info[4]) for info in infos]


def check_url_host(url: str, *, allow_private: bool) -> None:
    """At registration: refuse a URL whose host is local, when the policy says so.

    A name that does not resolve (yet) is let through: the delivery checks again.
    """
    if allow_private:
        return
    try:
        parts = urlsplit(url)
        resolve(parts.hostname or "", parts.port or 443, allow_private=False)
    except (OSError, ValueError):  # no such name (yet), or a name IDNA cannot encode
        return


def _connector(host: str, port: int, allow_private: bool):  # type: ignore[no-untyped-def]
    def create_connection(address, timeout=None, source_address=None):  # type: ignore[no-untyped-def]
        error: OSError | None = None
        for family, sockaddr in resolve(host, port, allow_private=allow_private):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"no address for {host}")

    return create_connection


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool,
) -> Answer:
    """POST ``body`` to ``url``; never raises for what the network or receiver did."""
    started = time.monotonic()

    def answer(
        status: int | None = None, snippet: str = "", error: str = "", permanent: bool = False
    ) -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(status, snippet, error[:500], elapsed, permanent)

    try:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return answer(error=f"not an http(s) URL: {url[:200]}", permanent=True)
    connection_class = http.client.HTTPSConnection if https else http.client.HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout)
    connection._create_connection = _connector(parts.hostname, port, allow_private)  # type: ignore[attr-defined]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        data = response.read(MAX_ANSWER_BYTES)
        snippet = data.decode("utf-8", "replace").strip()[:200]
        return answer(response.status, snippet)
    except AddressNotAllowed as exc:
        return answer(error=str(exc), permanent=True)
    except TimeoutError:
        return answer(error=f"no answer within {timeout:g} s")
    except socket.gaierror as exc:
        return answer(error=f"could not resolve {parts.hostname}: {exc.strerror or exc}")
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: IDNA
        return answer(error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
