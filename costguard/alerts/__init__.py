"""costguard.alerts.alert."""
