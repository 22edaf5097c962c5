"""costguard.spend."""
