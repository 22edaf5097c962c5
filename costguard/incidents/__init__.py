"""costguard.incidents.grouping."""
