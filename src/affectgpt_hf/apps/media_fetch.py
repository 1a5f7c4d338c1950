"""What `affectgpt serve` may read when a request names media, and the reading: a `data:` URI (capped in size), a file
under `--media-dir`, and an http(s) URL only with `--allow-remote-media` (capped in bytes and seconds; public
addresses only unless `--allow-private-media-hosts`). This module
decides what may be read and reads its bytes or finds its path; opening it as media is `media.open_media`'s job, as
for every file. A refusal is a :class:`Refusal` naming the reason (docs/serving.md, "What the server reads")."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import socket
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass


class Refusal(Exception):
    """A request the server refuses: the HTTP status (4xx), a short code naming the reason, and a message saying what
    was wrong and what was expected."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status

    def to_json(self) -> dict:
        """The body of the refusal, in OpenAI's error shape (the `openai` client reads `message` and `code`)."""
        return {"error": {"message": str(self), "type": "invalid_request_error", "code": self.code}}


WHERE = (
    "expected a data: URI, a path under the server's --media-dir, or an http(s) URL when the server was started with "
    "--allow-remote-media"
)


@dataclass(frozen=True)
class MediaRules:
    """Where media may come from: ``media_dir`` (None: no local files), ``allow_remote`` (http/https; to public
    addresses only unless ``allow_private_hosts``), at most ``max_bytes`` per data: URI, base64 item or download, and
    ``remote_timeout`` seconds per download."""

    media_dir: str | None = None
    allow_remote: bool = False
    max_bytes: int = 100_000_000
    remote_timeout: float = 30.0
    allow_private_hosts: bool = False

    def read(self, url: object, part: str) -> bytes | str:
        """The media a request names in its ``part`` (e.g. "video_url"): the bytes of a data: URI or a download, or the
        real path of a file under ``media_dir``. Anything else is a :class:`Refusal` naming ``part``."""
        if not isinstance(url, str) or not url:
            raise Refusal("bad_url", f"{part}: got {type(url).__name__} {url!r}; {WHERE}")
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme == "data":
            return self._data_uri(url, part)
        if scheme in ("http", "https"):
            return self._download(url, part)
        if scheme in ("", "file"):
            return self._local(url, part)
        raise Refusal("unsupported_url_scheme", f"{part}: {scheme}: URLs are not read; {WHERE}")

    def decode_base64(self, data: object, part: str) -> bytes:
        """Base64 text (a data: URI's payload, OpenAI's `input_audio.data`) -> its bytes, refused over ``max_bytes``
        before it is decoded."""
        if not isinstance(data, str) or not data:
            raise Refusal("bad_base64", f"{part}: expected base64 text, got {type(data).__name__}")
        if len(data) // 4 * 3 > self.max_bytes + 2:
            raise self._too_large(part, f"about {len(data) // 4 * 3} bytes")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise Refusal("bad_base64", f"{part}: the base64 data does not decode ({error})") from None

    def _data_uri(self, url: str, part: str) -> bytes:
        header, comma, payload = url[len("data:") :].partition(",")
        if not comma:
            raise Refusal("bad_data_uri", f"{part}: a data: URI without a comma; expected data:<type>;base64,<data>")
        if header.lower().endswith(";base64"):
            return self.decode_base64(payload, part)
        data = urllib.parse.unquote_to_bytes(payload)
        if len(data) > self.max_bytes:
            raise self._too_large(part, f"{len(data)} bytes")
        return data

    def _too_large(self, part: str, size: str) -> Refusal:
        return Refusal("media_too_large", f"{part}: {size}; the limit is {self.max_bytes} bytes per media item", 413)

    def _local(self, url: str, part: str) -> str:
        if self.media_dir is None:
            raise Refusal(
                "local_media_disabled",
                f"{part}: {url} is a local path, and this server reads no local files (it was started without "
                f"--media-dir); {WHERE}",
                403,
            )
        split = urllib.parse.urlsplit(url)
        if split.scheme:  # file://[localhost]/path
            if split.netloc not in ("", "localhost"):
                raise Refusal("unsupported_url_scheme", f"{part}: {url} names another host; {WHERE}")
            url = urllib.request.url2pathname(split.path)
        root = os.path.realpath(self.media_dir)
        real = os.path.realpath(os.path.join(root, url))  # an absolute url replaces root
        if os.path.commonpath([root, real]) != root:
            raise Refusal("outside_media_dir", f"{part}: {url} is outside the server's --media-dir; {WHERE}", 403)
        if not os.path.isfile(real):
            raise Refusal("media_not_found", f"{part}: {url} is not a file in the server's --media-dir", 404)
        return real

    def _download(self, url: str, part: str) -> bytes:
        if not self.allow_remote:
            raise Refusal(
                "remote_media_disabled",
                f"{part}: {url} is remote, and this server downloads nothing (it was started without "
                f"--allow-remote-media); {WHERE}",
                403,
            )
        import httpx

        deadline = time.monotonic() + self.remote_timeout
        timed_out = Refusal(
            "remote_media_timeout", f"{part}: {url} took longer than {self.remote_timeout:g} s to download", 408
        )
        try:
            with (
                httpx.Client(
                    timeout=self.remote_timeout,
                    follow_redirects=True,
                    max_redirects=3,
                    trust_env=self.allow_private_hosts,  # a proxy would connect where the address check cannot see
                    transport=None if self.allow_private_hosts else _public_transport(),
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code >= 400:
                    raise Refusal("remote_media_unavailable", f"{part}: {url} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise self._too_large(part, f"{url} declares {declared} bytes")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_large(part, f"{url} sent more than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise timed_out
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise timed_out from None
        except PrivateAddress as error:
            raise Refusal(
                "private_media_host",
                f"{part}: {url} {error}; the server downloads from public addresses only (it was started without "
                "--allow-private-media-hosts)",
                403,
            ) from None
        except httpx.HTTPError as error:
            raise Refusal("remote_media_unavailable", f"{part}: {url} could not be downloaded ({error})") from None
        return b"".join(chunks)


class PrivateAddress(Exception):
    """A download would connect to a loopback, private, link-local or otherwise non-public address."""


def public_address(host: str, port: int) -> str:
    """An address ``host`` resolves to, when every address it resolves to is public (``ipaddress``'s ``is_global``,
    IPv4-mapped IPv6 read as IPv4); else :class:`PrivateAddress` naming the one that is not (``socket.gaierror``
    when it does not resolve)."""
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])  # an IPv6 scope (fe80::1%eth0) is not part of it
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            raise PrivateAddress(f"resolves to {text}, which is not a public address")
    return addresses[0]


def _public_transport():
    """httpx's transport whose connections open only to public addresses. The check runs as each connection opens,
    on the address it opens to, so a redirect or a DNS answer that changes between check and connect is caught."""
    import httpcore
    import httpx

    class PublicOnly(httpcore.SyncBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            try:
                address = public_address(host, port)
            except socket.gaierror as error:
                raise httpcore.ConnectError(f"{host} does not resolve ({error})") from None
            return super().connect_tcp(address, port, timeout, local_address, socket_options)

    transport = httpx.HTTPTransport()
    # httpx (pinned in the serve extra) builds its pool without a way to pass the backend: the same pool, with it
    transport._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=PublicOnly())
    return transport


__all__ = ["WHERE", "MediaRules", "PrivateAddress", "Refusal", "public_address"]
