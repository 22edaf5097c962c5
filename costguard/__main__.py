"""Lets `python -m costguard` behave exactly like the console script."""

from costguard.cli.main import entry

entry()
