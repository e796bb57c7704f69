"""``constellation doctor``: what this machine gives the platform, checked now.

One line per check: the isolation each function gets (a bubblewrap sandbox with a uid of
its own, a rootless one, or none and why), and the key that encrypts function secrets
in the store (present, and readable by its owner only).
"""

from __future__ import annotations

import stat

import click

from ..backends import detect_isolation
from ..config import load_settings
from ..errors import ConstellationError

__all__ = ["cli"]


@click.command()
def cli() -> None:
    """Check this machine: function isolation (sandbox) and the secrets key."""
    try:
        settings = load_settings()
        isolation = detect_isolation(settings.sandbox)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(isolation.describe())
    key = settings.secrets_key_path
    if not key.exists():
        click.echo(f"secrets: no key yet at {key} (made with mode 0600 at first start)")
    else:
        mode = stat.S_IMODE(key.stat().st_mode)
        verdict = "ok" if mode & 0o077 == 0 else "TOO OPEN: chmod 600 it"
        click.echo(
            f"secrets: function env values encrypted with {key} (mode {mode:04o}, {verdict})"
        )
