"""``constellation secrets rotate-key``: a new key for the function secrets at rest."""

from __future__ import annotations

import click

from ..config import load_settings
from ..errors import ConstellationError
from ..serverless import rotate_secrets_key

__all__ = ["cli"]


@click.group()
def cli() -> None:
    """The key that encrypts function env values in the store."""


@cli.command("rotate-key")
def rotate_key() -> None:
    """Make a new key, re-encrypt every function's env with it, drop the old key."""
    try:
        settings = load_settings()
        count = rotate_secrets_key(settings)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"re-encrypted the env of {count} function(s) with a new key in {settings.secrets_key_path}"
    )
