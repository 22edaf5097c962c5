"""costguard.activity.principals."""
