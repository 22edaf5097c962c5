"""AWS region names, checked against the regions botocore's own partition data lists (no network).

A misspelt region (`eu-west1`, `mars-north-9`) would otherwise be scanned, find nothing, and
look like a clean account. The list is the union over every partition (aws, aws-cn, aws-us-gov,
the isolated ones) of the regions botocore's partition data lists, which is every region there
is; a region newer than the installed botocore is refused with a hint to upgrade it.
"""

from __future__ import annotations

import difflib
import functools
from typing import Annotated

from pydantic import AfterValidator


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's partition data (a 7 KB file; the full
    endpoint data is 1.2 MB and costs a one-shot scan 25 MiB to parse a second time). The
    `*-global` names there are signing pseudo-regions, not regions to scan."""
    from botocore.loaders import Loader

    partitions = Loader().load_data("partitions")["partitions"]
    return frozenset(
        region
        for partition in partitions
        for region in partition["regions"]
        if not region.endswith("-global")
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
