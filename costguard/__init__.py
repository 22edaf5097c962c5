"""costguard: guards AWS accounts against leaked-credential attacks and runaway spend."""

__version__ = "0.1.0"
