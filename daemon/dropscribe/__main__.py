"""``python -m dropscribe``: the same command line as the ``dropscribe`` script."""

from dropscribe.cli import main

main()
