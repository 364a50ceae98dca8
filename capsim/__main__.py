"""``python -m capsim``: the ``capsim`` command."""

from capsim.cli.main import console_main

console_main()
