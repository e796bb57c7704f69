"""Constellation: a self-hosted distributed computing platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
