"""Seed a moto_server with the small account the scan benchmark reads.

Usage: python bench/seed_account.py ENDPOINT_URL [EXTRA_INSTANCES]
Five instances (three approved t3.micro, two c5.4xlarge), a group open to SSH, two IAM users;
and EXTRA_INSTANCES more approved t3.micro (the large-account run).
"""

import sys

import boto3


def main(url: str, extra: int = 0) -> None:
    ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1")
    group = ec2.create_security_group(GroupName="ssh", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ])
    ec2.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3, InstanceType="t3.micro")
    ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="c5.4xlarge",
                      SecurityGroupIds=[group])
    for start in range(0, extra, 500):
        count = min(500, extra - start)
        ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count,
                          InstanceType="t3.micro")
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    iam.create_login_profile(UserName="bob", Password="Passw0rd!x")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
