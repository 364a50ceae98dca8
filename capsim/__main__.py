"""``python -m capsim``: the ``capsim`` command."""

from capsim.cli.entry import console_main

if __name__ == "__main__":
    console_main()
