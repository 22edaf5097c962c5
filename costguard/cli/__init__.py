"""costguard.cli.main."""
