"""costguard.actions."""
