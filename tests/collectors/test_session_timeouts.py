"""`aws.connect_timeout_s` and `aws.read_timeout_s` reach every client: the base account's, the
STS client AssumeRole goes through, and every assumed account's. The behaviour against an
endpoint that never answers is played by tests/faults/test_aws_faults.py."""

from __future__ import annotations

import pytest
from moto import mock_aws
from pydantic import ValidationError

from costguard.collectors.session import Aws, client_config
from costguard.settings.sections import AwsConfig

ROLE = "arn:aws:iam::111111111111:role/costguard-read"


def timeouts(client: object) -> tuple[float, float]:
    config = client.meta.config  # type: ignore[attr-defined]
    return config.connect_timeout, config.read_timeout


def test_the_defaults_are_ten_and_sixty_seconds() -> None:
    aws = Aws.from_settings(AwsConfig())
    assert timeouts(aws.client("ec2", "eu-west-1")) == (10, 60)


@mock_aws
def test_given_timeouts_reach_base_sts_and_assumed_clients() -> None:
    aws = Aws.from_settings(AwsConfig(connect_timeout_s=3, read_timeout_s=1.5))
    member = aws.assume(ROLE)
    assert timeouts(aws.client("ec2")) == (3, 1.5)
    assert timeouts(aws._sts_creator()("sts")) == (3, 1.5)
    assert timeouts(member.client("iam")) == (3, 1.5)
    assert member.account_id() == "111111111111"  # the assumed session still works
    config = member.client("iam").meta.config
    assert config.retries["mode"] == "adaptive" and config.user_agent_extra.startswith(
        "costguard/")


def test_client_config_without_timeouts_leaves_botocores() -> None:
    config = client_config()
    assert (config.connect_timeout, config.read_timeout) == (60, 60)


@pytest.mark.parametrize(("key", "value"), [("connect_timeout_s", 0), ("read_timeout_s", -1),
                                            ("connect_timeout_s", 301), ("read_timeout_s", 901),
                                            ("read_timeout_s", "soon")])
def test_timeouts_out_of_bounds_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        AwsConfig.model_validate({key: value})
    assert caught.value.errors()[0]["loc"] == (key,)
