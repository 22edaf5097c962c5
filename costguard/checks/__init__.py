"""Every check, imported by name so the registry is complete without filesystem magic."""
