"""Hard edges: bad input is a 4xx naming the field, leaves nothing on disk, and never
breaks the next request on the same keep-alive connection."""

from __future__ import annotations

import base64
import http.client
import io
import zipfile
from pathlib import Path

import pytest

from constellation.errors import ValidationError
from constellation.serverless._validation import check_env_name, check_name

from ..serverless.conftest import HANDLERS
from .conftest import Served


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buf.getvalue()


def _bad_crc() -> bytes:
    raw = bytearray(_zip({"m.py": "def h(event, context):\n    return 1\n"}))
    at = raw.find(b"def h")
    raw[at] ^= 1  # the stored bytes no longer match the CRC in the headers
    return bytes(raw)


@pytest.mark.parametrize(
    ("archive", "handler", "words"),
    [
        (_bad_crc(), "m.h", "cannot be unpacked"),
        (_zip({"a/m.py": "def h(e, c):\n    return 1\n", "a": "x"}), "a.m.h", "both a file"),
    ],
    ids=["bad-crc", "file-and-folder"],
)
def test_broken_zip_is_400_and_leaves_nothing(
    served: Served, archive: bytes, handler: str, words: str
) -> None:
    body = {
        "name": "zipped",
        "runtime": "python",
        "handler": handler,
        "code_zip": base64.b64encode(archive).decode(),
    }
    r = served.client.post("/api/v1/functions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == "code_zip" and words in error["message"]
    uploads = Path(served.platform.settings.home) / "uploads"
    assert not uploads.exists() or list(uploads.rglob("*")) == []
    assert served.client.get("/api/v1/functions/zipped").status_code == 404


@pytest.mark.parametrize("value", ["²", "٣", "1\n", "-1", "x"])
@pytest.mark.parametrize("route", ["logs", "scaling"])
def test_limit_with_non_ascii_digits_is_400(served: Served, route: str, value: str) -> None:
    served.create("echo", "echo")
    r = served.client.get(f"/api/v1/functions/echo/{route}", params={"limit": value})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "limit"


def test_content_length_with_non_ascii_digit_is_not_a_500(served: Served) -> None:
    served.create("echo", "echo")
    conn = http.client.HTTPConnection(served.server.host, served.server.port, timeout=30)
    conn.putrequest("POST", "/api/v1/functions/echo/invoke")
    conn.putheader("Authorization", f"Bearer {served.token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "²".encode("latin-1"))  # type: ignore[arg-type]
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    assert 400 <= status < 500


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "ab\nc", "\uff41bc", "abc "])
def test_function_name_is_matched_in_full(served: Served, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_name(name)
    assert caught.value.field == "name"
    r = served.client.post(
        "/api/v1/functions",
        json={"name": name, "runtime": "python", "handler": "h", "code": "def h(e, c): pass\n"},
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "name"
    assert served.client.get("/api/v1/functions").json()["functions"] == []


@pytest.mark.parametrize("key", ["A\n", "A\r", "Ä", "A-B", "1A"])
def test_env_key_is_matched_in_full(served: Served, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_env_name(key)
    assert caught.value.field == "env"
    with pytest.raises(ValidationError):
        served.platform.serverless.create_function(
            "envy", "python", "echo", HANDLERS, env={key: "v"}
        )


def _ask(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes = b""
) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def test_errors_keep_the_connection_usable(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """On ONE connection: a 400, a 404, a 413 and a 500 (an injected bug), each followed
    by a request that succeeds on the very same socket."""
    served.create("echo", "echo")

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected bug")

    monkeypatch.setattr(served.platform.serverless, "list_instances", broken)
    conn = http.client.HTTPConnection(served.server.host, served.server.port, timeout=30)
    conn.connect()
    sock = conn.sock
    t = served.token
    cases = [
        ("GET", "/api/v1/functions/echo/logs?limit=%C2%B2", b"", 400),
        ("GET", "/api/v1/functions/missing", b"", 404),
        ("POST", "/api/v1/functions/echo/invoke", b"{", 400),
        ("GET", "/api/v1/functions/echo/instances", b"", 500),
    ]
    for method, path, body, expected in cases:
        assert _ask(conn, method, path, t, body) == expected, path
        assert _ask(conn, "GET", "/api/v1/functions/echo", t) == 200, path
        assert conn.sock is sock, f"the connection was replaced after {path}"
    conn.close()
