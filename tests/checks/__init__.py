"""Tests of the checks: hand-built snapshots in, findings and rendered remediation out."""
