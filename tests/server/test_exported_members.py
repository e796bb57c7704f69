"""The public names of constellation.server are frozen here."""

from __future__ import annotations

from constellation import server

SERVER = {
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "GatewayApp",
    "InsecureBindError",
    "ServerError",
    "ServerThread",
    "check_bind",
    "create_app",
    "ensure_token",
    "is_loopback",
    "read_token",
    "serve",
    "token_path",
}


def test_server_public_names() -> None:
    assert set(server.__all__) == SERVER
    for name in server.__all__:
        assert getattr(server, name) is not None
