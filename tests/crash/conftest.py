"""moto_server on 127.0.0.1 for the crash-point runs: the driver processes reach AWS through
AWS_ENDPOINT_URL, so the account's state outlives each killed process."""

from __future__ import annotations



