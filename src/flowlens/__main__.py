"""``python -m flowlens``: the same as the ``flowlens`` command."""

from flowlens.cli import main

main()
