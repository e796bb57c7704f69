"""The :class:`~._client.Client` calls sent to a server's REST API (``/api/v1``) with
httpx: ``constellation --server URL --token T ...``, like faas-cli's ``--gateway``.

The server's errors come back as the platform's own exceptions (404 -> NotFoundError,
400 -> ValidationError naming the field, 409 -> ConflictError), so a command prints the
same one-line message whether it ran here or there. A server that cannot be reached, or
that refuses the token, is one clear line too.
"""

from __future__ import annotations

import base64
import io
import os
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import ConflictError, ConstellationError, ValidationError
from ._client import Progress, _no_progress

__all__ = ["RemoteClient", "RemoteError"]

API = "/api/v1"
# Skipped when a directory is zipped for upload: caches and version control.
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".venv", ".mypy_cache", ".pytest_cache"}


class RemoteError(ConstellationError):
    """The server could not be reached, refused the token, or failed."""


class RemoteClient:
    def __init__(self, url: str, token: str | None, timeout: float = 930.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValidationError("--server", f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.where = f"server at {self.url}"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        # the longest function timeout is 900 s: an invocation may take that long
        self._http = httpx.Client(
            base_url=self.url + API,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise RemoteError(
                f"cannot reach the server at {self.url}: is `constellation serve` running there?"
            ) from None
        except httpx.TimeoutException:
            raise RemoteError(f"the server at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"talking to {self.url}: {exc}") from None
        if answer.status_code == 204:
            return None
        if answer.is_success:
            return answer.json()
        raise self._error(answer)

    def _error(self, answer: httpx.Response) -> ConstellationError:
        status = answer.status_code
        if status == 401:
            return RemoteError(
                f"the server at {self.url} refused the token (401): pass --token or set "
                "CONSTELLATION_TOKEN (`constellation token` on the server prints it)"
            )
        try:
            error = answer.json().get("error", {})
            message = str(error.get("message") or answer.text)
        except (ValueError, AttributeError):
            error, message = {}, answer.text.strip() or answer.reason_phrase
        if status == 400 and error.get("field"):
            field = str(error["field"])
            return ValidationError(field, message.removeprefix(f"{field}: "))
        if status == 404:
            return RemoteError(message)  # the server's "function 'x' not found"
        if status == 409:
            return ConflictError(message)
        return RemoteError(f"the server answered {status}: {message}")

    # -- functions -------------------------------------------------------------------------
    def list_functions(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/functions")["functions"])

    def get_function(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/functions/{quote(name)}"))

    def create_function(
        self,
        name: str,
        code: Path,
        options: dict[str, Any],
        triggers: list[dict[str, Any]],
        progress: Progress = _no_progress,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, **options, "triggers": triggers}
        if code.is_dir():
            body["code_zip"] = _zip_directory(code, progress)
        elif code.suffix == ".py":
            # source text: the server names the module after the handler ('main' for a
            # bare function name), so 'module.function' handlers keep working
            body["code"] = code.read_text()
        else:
            raise ValidationError(
                "code", f"{code}: over --server, send a .py file or a directory of Python code"
            )
        return dict(self._call("POST", "/functions", json=body))

    def deploy_function(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/functions/{quote(name)}/deploy"))

    def update_function(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/functions/{quote(name)}", json=changes))

    def delete_function(self, name: str) -> None:
        self._call("DELETE", f"/functions/{quote(name)}")

    def invoke(self, name: str, event: Any, timeout_ms: int | None) -> dict[str, Any]:
        params = {"timeout_ms": timeout_ms} if timeout_ms is not None else {}
        return dict(
            self._call("POST", f"/functions/{quote(name)}/invoke", json=event, params=params)
        )

    def invoke_async(self, name: str, event: Any) -> str:
        answer = self._call(
            "POST", f"/functions/{quote(name)}/invoke", json=event, params={"async": "true"}
        )
        return str(answer["request_id"])

    def get_invocation(self, request_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/invocations/{quote(request_id)}"))

    def dead_letters(self, name: str | None) -> list[dict[str, Any]]:
        params = {"function": name} if name else {}
        return list(self._call("GET", "/dead-letters", params=params)["dead_letters"])

    def redrive(self, request_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/invocations/{quote(request_id)}/redrive"))

    def metrics(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/functions/{quote(name)}/metrics"))

    def billing(self, name: str, start: float, end: float | None) -> dict[str, Any]:
        params = {"start": start, "end": end if end is not None else time.time() + 1e9}
        return dict(self._call("GET", f"/functions/{quote(name)}/billing", params=params))

    def logs(self, name: str, limit: int) -> list[dict[str, Any]]:
        answer = self._call("GET", f"/functions/{quote(name)}/logs", params={"limit": limit})
        return list(answer["logs"])

    def scaling(self, name: str, limit: int) -> list[dict[str, Any]]:
        answer = self._call("GET", f"/functions/{quote(name)}/scaling", params={"limit": limit})
        return list(answer["decisions"])

    def instances(self, name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/functions/{quote(name)}/instances")["instances"])

    # -- triggers --------------------------------------------------------------------------
    def triggers(self, name: str | None) -> list[dict[str, Any]]:
        params = {"function": name} if name else {}
        return list(self._call("GET", "/triggers", params=params)["triggers"])

    def add_trigger(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"/functions/{quote(name)}/triggers", json=spec))

    def remove_trigger(self, trigger_id: str) -> None:
        self._call("DELETE", f"/triggers/{quote(trigger_id)}")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    # -- anomalies -------------------------------------------------------------------------
    def anomalies(self, everything: bool) -> list[dict[str, Any]]:
        params = {"all": "true"} if everything else {}
        return list(self._call("GET", "/anomalies", params=params)["anomalies"])

    def resolve_anomaly(self, anomaly_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/anomalies/{quote(anomaly_id)}/resolve"))

    def close(self) -> None:
        self._http.close()  # idempotent


def _zip_directory(root: Path, progress: Progress) -> str:
    """The directory's files as a base64 zip, paths relative to it (what the API takes)."""
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        files.extend(Path(folder) / n for n in sorted(names) if not n.endswith(".pyc"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for done, path in enumerate(files, start=1):
            archive.write(path, path.relative_to(root).as_posix())
            progress(done, len(files))
    return base64.b64encode(buffer.getvalue()).decode()
