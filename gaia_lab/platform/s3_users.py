"""Per-user S3 credentials for platform sessions (``gaia-lab up --s3``).

At each spawn the hub gives the user an IAM user of their own on the platform's S3 server (``hub-<name>``), reading
the public bucket, and the private bucket when the platform config grants it (``s3_private_users``), otherwise only
its JSON metadata. Earlier keys of that IAM user are deleted and a new one made: a key lives as long as the session
it was made for. The session gets it as ``GAIA_LAB_S3_ACCESS_KEY_ID`` / ``GAIA_LAB_S3_SECRET_ACCESS_KEY``, which the
session federation's S3 providers refer to (``${VAR}``); the key is never written to a file.

The hub imports this module without gaia_lab's package ``__init__`` (see hub_config): standard library and botocore.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ENV_PREFIX = "GAIA_LAB_S3"
REGION = "us-east-1"
_READ_ACTIONS = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]


def read_policy(buckets: Iterable[str], *, metadata_of: Iterable[str] = ()) -> dict[str, Any]:
    """An IAM policy granting read (get, list) of ``buckets``, and of the JSON metadata only (STAC documents, Zarr
    ``zarr.json``) of the buckets in ``metadata_of``; nothing else."""
    resources = [arn for bucket in buckets for arn in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*")]
    statements: list[dict[str, Any]] = []
    if resources:
        statements.append({"Effect": "Allow", "Action": _READ_ACTIONS, "Resource": resources})
    metadata = [f"arn:aws:s3:::{bucket}/*.json" for bucket in metadata_of]
    if metadata:
        statements.append({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": metadata})
    return {"Version": "2012-10-17", "Statement": statements}


def granted(user: str, private_users: Sequence[str]) -> bool:
    return "*" in private_users or user in private_users


def session_credentials(state_file: str | Path, user: str, private_users: Sequence[str]) -> dict[str, str]:
    """A new access key for hub user ``user`` (its IAM user created or updated first), as session variables."""
    import botocore.session

    state = json.loads(Path(state_file).read_text())
    iam = botocore.session.Session().create_client(
        "iam",
        region_name=REGION,
        endpoint_url=state["endpoint_url"],
        aws_access_key_id=state["admin"]["key_id"],
        aws_secret_access_key=state["admin"]["secret"],
    )
    name = f"hub-{user}"
    try:
        iam.create_user(UserName=name)
    except iam.exceptions.EntityAlreadyExistsException:
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    public, private = list(state["public_buckets"]), list(state["private_buckets"])
    if granted(user, private_users):
        policy = read_policy([*public, *private])
    else:
        policy = read_policy(public, metadata_of=private)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-access", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        f"{ENV_PREFIX}_ACCESS_KEY_ID": key["AccessKeyId"],
        f"{ENV_PREFIX}_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
