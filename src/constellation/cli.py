"""The ``constellation`` command line."""

import click


@click.group()
def main() -> None:
    """Constellation: serverless functions, WASM, GPUs, predictive scaling, anomaly detection."""
