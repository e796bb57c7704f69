"""The security suite reuses the server tests' fixture (a real platform behind uvicorn)."""

from __future__ import annotations

from ..server.conftest import Served, served

__all__ = ["Served", "served"]
