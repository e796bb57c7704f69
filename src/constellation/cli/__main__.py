"""``python -m constellation.cli``: the command line."""

from . import main

main()
