"""The reports costguard makes from its store alone: the weekly compliance email (figures,
rendering, the once-a-week send) and the compliance report other tools take in (CSV, JSON,
HTML, OCSF). Nothing here calls AWS.
"""
