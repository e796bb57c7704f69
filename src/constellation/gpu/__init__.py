"""GPU support: discovery, allocation, monitoring (see issue "GPU support"). Not built yet."""

__all__: list[str] = []
