"""Seed a moto_server with an AWS Organization for bench/org_scan.py.

Usage: python bench/seed_organization.py ENDPOINT_URL MEMBERS INSTANCES USERS REGION...
Creates the Organization from the bench credentials' account (the management account) and
MEMBERS member accounts; in every member, through its OrganizationAccountAccessRole (moto
maps the assumed credentials to the member), INSTANCES t3.micro instances per region and
USERS IAM users. Prints the member account ids, one a line.
"""

import sys

import boto3

ROLE = "OrganizationAccountAccessRole"


def member_session(url: str, account: str) -> boto3.Session:
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                            RoleSessionName="seed")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


def seed_member(url: str, account: str, instances: int, users: int, regions: list[str]) -> None:
    session = member_session(url, account)
    for region in regions:
        if instances:
            session.client("ec2", endpoint_url=url, region_name=region).run_instances(
                ImageId="ami-12345678", MinCount=instances, MaxCount=instances,
                InstanceType="t3.micro")
    iam = session.client("iam", endpoint_url=url, region_name="us-east-1")
    for n in range(users):
        iam.create_user(UserName=f"user-{n}")


def main(url: str, members: int, instances: int, users: int, regions: list[str]) -> None:
    org = boto3.client("organizations", endpoint_url=url, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    for n in range(members):
        status = org.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        seed_member(url, account, instances, users, regions)
        print(account)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
