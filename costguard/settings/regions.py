"""AWS region names, checked against the regions botocore's own endpoint data lists (no network).

A misspelt region (`eu-west1`, `mars-north-9`) would otherwise be scanned, find nothing, and
look like a clean account. The list is the union over every partition (aws, aws-cn, aws-us-gov,
the isolated ones) of the regions where EC2 is offered, which is every region there is; a region
newer than the installed botocore is refused with a hint to upgrade it.
"""

from __future__ import annotations

import difflib
import functools
from typing import Annotated

from pydantic import AfterValidator


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore's endpoint data knows (read once, ~0.2 s)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition)
    )


def check_region(name: str) -> str:
    """`name` when it is a known region; a ValueError that suggests the closest one otherwise."""
    known = known_regions()
    if name in known:
        return name
    close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "e.g. 'us-east-1'"
    raise ValueError(
        f"unknown region {shown_name(name)} ({hint} a region newer than this install needs an "
        "upgraded boto3)"
    )


def shown_name(name: str, limit: int = 40) -> str:
    """A region name as a message quotes it, cut short."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r}..."


Region = Annotated[str, AfterValidator(check_region)]
"""A config value that must name an AWS region."""
