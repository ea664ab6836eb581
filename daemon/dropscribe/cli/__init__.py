"""The command line: argument parsing and exit codes for every subcommand.

Only this package calls ``sys.exit``; every subcommand's work is done below it.
"""

from dropscribe.cli.main import main

__all__ = ["main"]
