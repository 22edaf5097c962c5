"""costguard.settings."""
