"""costguard.runtime."""
