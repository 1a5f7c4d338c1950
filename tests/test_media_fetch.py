"""apps/media_fetch.py: what `affectgpt serve` may read when a request names media. data: URIs are capped, local paths
are read only under the media folder (symlinks and `..` resolved first), http(s) only when allowed and then capped in
bytes and seconds (against a local HTTP server); every refusal names its reason and a 4xx status."""

from __future__ import annotations

import base64
import http.server
import socket
import threading
import time

import pytest

from affectgpt_hf.apps.media_fetch import MediaRules, PrivateAddress, Refusal, public_address


def refused(call, *args) -> Refusal:
    with pytest.raises(Refusal) as info:
        call(*args)
    return info.value


def test_data_uris_are_read_and_capped():
    rules = MediaRules(max_bytes=1000)
    payload = bytes(range(256)) * 3
    assert rules.read("data:video/mp4;base64," + base64.b64encode(payload).decode(), "video_url") == payload
    assert rules.read("data:audio/wav,abc%00%ff", "audio_url") == b"abc\x00\xff"  # percent-encoded, not base64
    big = refused(rules.read, "data:video/mp4;base64," + base64.b64encode(b"x" * 1003).decode(), "video_url")
    assert (big.code, big.status) == ("media_too_large", 413) and "video_url" in str(big) and "1000 bytes" in str(big)
    assert refused(rules.read, "data:video/mp4," + "a" * 1001, "video_url").code == "media_too_large"
    assert refused(rules.read, "data:video/mp4;base64,@@@@", "video_url").code == "bad_base64"
    assert refused(rules.read, "data:video/mp4;base64", "video_url").code == "bad_data_uri"
    assert refused(rules.decode_base64, {"data": "x"}, "input_audio").code == "bad_base64"


def test_local_paths_only_under_the_media_folder(tmp_path):
    inside, outside = tmp_path / "media", tmp_path / "private"
    (inside / "sub").mkdir(parents=True)
    outside.mkdir()
    clip = inside / "sub" / "clip.mp4"
    clip.write_bytes(b"clip")
    (outside / "secret.mp4").write_bytes(b"secret")
    (inside / "link.mp4").symlink_to(outside / "secret.mp4")
    rules = MediaRules(media_dir=str(inside))
    assert rules.read("sub/clip.mp4", "video_url") == str(clip.resolve())
    assert rules.read(str(clip), "video_url") == str(clip.resolve())
    assert rules.read(clip.as_uri(), "video_url") == str(clip.resolve())
    for escape in ("../private/secret.mp4", str(outside / "secret.mp4"), "link.mp4", "/etc/passwd", "sub/../../x"):
        refusal = refused(rules.read, escape, "video_url")
        assert (refusal.code, refusal.status) == ("outside_media_dir", 403), escape
        assert str(inside) not in str(refusal)  # the server's folder is not disclosed
    assert refused(rules.read, "nothing.mp4", "video_url").status == 404
    assert refused(rules.read, "sub", "video_url").code == "media_not_found"  # a folder is no clip
    assert refused(rules.read, "file://elsewhere/clip.mp4", "video_url").code == "unsupported_url_scheme"
    off = refused(MediaRules().read, str(clip), "video_url")
    assert (off.code, off.status) == ("local_media_disabled", 403) and "--media-dir" in str(off)
    for url in ("ftp://host/clip.mp4", "gopher://x", "concat:a.mp4|b.mp4", "s3://bucket/clip.mp4"):
        assert refused(rules.read, url, "video_url").code == "unsupported_url_scheme", url
    assert refused(rules.read, 42, "video_url").code == "bad_url"
    assert refused(rules.read, "", "video_url").code == "bad_url"


class _Files(http.server.BaseHTTPRequestHandler):
    """/small (100 bytes), /big (declares and sends 5000), /chunked (5000 bytes, no length), /slow (drips for 3 s)."""

    def do_GET(self):  # noqa: N802 (BaseHTTPRequestHandler's name)
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(5):
                self.wfile.write(b"3e8\r\n" + b"c" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        body = {"/small": b"s" * 100, "/big": b"b" * 5000, "/slow": b"w" * 30}[self.path]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
            if self.path == "/slow":
                time.sleep(0.1)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_remote_media_only_when_allowed_then_capped(web):
    off = refused(MediaRules().read, f"{web}/small", "video_url")
    assert (off.code, off.status) == ("remote_media_disabled", 403) and "--allow-remote-media" in str(off)
    rules = MediaRules(allow_remote=True, max_bytes=1000, remote_timeout=1.0, allow_private_hosts=True)
    assert rules.read(f"{web}/small", "video_url") == b"s" * 100
    declared = refused(rules.read, f"{web}/big", "video_url")
    assert (declared.code, declared.status) == ("media_too_large", 413) and "declares 5000" in str(declared)
    assert "more than 1000" in str(refused(rules.read, f"{web}/chunked", "video_url"))
    started = time.monotonic()
    slow = refused(rules.read, f"{web}/slow", "video_url")
    assert (slow.code, slow.status) == ("remote_media_timeout", 408)
    assert time.monotonic() - started < 2.5  # 1 s allowed; the file would take 3 s
    assert refused(rules.read, f"{web}/missing", "video_url").code == "remote_media_unavailable"
    closed = refused(rules.read, "http://127.0.0.1:9/clip.mp4", "video_url")  # the discard port: nothing listens
    assert closed.code == "remote_media_unavailable" and closed.status == 400


def test_remote_media_goes_to_public_addresses_only(web, monkeypatch):
    """--allow-remote-media alone let a request make the server fetch from its own network (a loopback service, a
    cloud metadata address). Each connection is checked on the address it opens to, however the host was written."""
    rules = MediaRules(allow_remote=True, remote_timeout=2.0)
    port = web.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "0.0.0.0"):
        refusal = refused(rules.read, f"http://{host}:{port}/small", "video_url")
        assert (refusal.code, refusal.status) == ("private_media_host", 403), (host, refusal)
        assert "--allow-private-media-hosts" in str(refusal) and "not a public address" in str(refusal)
    for address in ("10.1.2.3", "169.254.169.254", "192.168.0.7", "100.64.0.1", "fd00::1", "fe80::1%1", "::1"):
        with pytest.raises(PrivateAddress, match="not a public address"):
            public_address(address, 80)
    assert public_address("93.184.215.14", 80) == "93.184.215.14"
    # a public name whose DNS answer is private at connect time (rebinding, or a redirect's host) is refused too
    answers = iter([("93.184.215.14",), ("127.0.0.1",)])
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real(next(answers)[0], *a, **k) if host == "example.org" else real(host, *a, **k),
    )
    assert public_address("example.org", 80) == "93.184.215.14"
    assert refused(rules.read, f"http://example.org:{port}/small", "video_url").code == "private_media_host"


def test_refusals_have_openai_shaped_bodies():
    refusal = Refusal("no_video", "the message has no video_url part")
    assert refusal.to_json() == {
        "error": {"message": "the message has no video_url part", "type": "invalid_request_error", "code": "no_video"}
    }
