"""The S3 test server: moto's S3 + IAM server on 127.0.0.1 (``gaia_lab.datalake.s3``), started once per test session,
authentication on, with the demo lake published to a public and a private bucket.

Use the ``s3_lake`` fixture (imported by tests/conftest.py)::

    def test_something(s3_lake):
        s3_lake.endpoint_url, s3_lake.public_bucket, s3_lake.private_bucket
        key = s3_lake.credentials("alice", private=True)   # an IAM user's access key (one per name and session)
        s3_lake.storage_options(key)                        # s3fs options with that key (anon when key is None)
        s3_lake.federation(tmp_path, env_prefix="ALICE")    # a federation file reading both buckets
        s3_lake.url("private", "odatis/ostia-sst/ostia-sst.zarr")   # s3:// URL of a lake file
        s3_lake.assume_role("reader", private=True)         # temporary credentials (STS) of an IAM role
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gaia_lab.datalake import s3
from gaia_lab.platform.s3_users import read_policy

_TRUST_ANY_USER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class TemporaryKey:
    """Temporary credentials from STS ``AssumeRole``: a key, its secret and a session token, valid until
    ``expiration`` (secret and token never in reprs)."""

    key_id: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    expiration: datetime
    role: str


@dataclass
class S3Lake:
    server: s3.S3Server
    lake: Path
    catalogues: dict[str, str]  # bucket -> s3:// URL of its root catalog.json
    _keys: dict[tuple[str, bool], s3.AccessKey] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def public_bucket(self) -> str:
        return self.server.public_bucket

    @property
    def private_bucket(self) -> str:
        return self.server.private_bucket

    def credentials(self, user: str, *, private: bool) -> s3.AccessKey:
        """The access key of IAM user ``user`` (created on first use), granted the private bucket when ``private``."""
        if (user, private) not in self._keys:
            self._keys[(user, private)] = self.server.create_user(user, private=private)
        return self._keys[(user, private)]

    def fresh_credentials(self, user: str, *, private: bool) -> s3.AccessKey:
        """A new key of its own (for tests that revoke it)."""
        return self.server.create_user(user, private=private)

    def assume_role(self, role: str, *, private: bool, seconds: int = 900) -> TemporaryKey:
        """Temporary credentials of IAM role ``role`` (created with a read policy, the private bucket's when
        ``private``), from the server's STS ``AssumeRole`` with ``DurationSeconds``."""
        iam = self.server.client("iam")
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(_TRUST_ANY_USER))["Role"]["Arn"]
        buckets = [self.public_bucket, *([self.private_bucket] if private else [])]
        iam.put_role_policy(RoleName=role, PolicyName=f"{role}-read", PolicyDocument=json.dumps(read_policy(buckets)))
        answer = self.server.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=f"{role}-session", DurationSeconds=seconds
        )
        granted = answer["Credentials"]
        return TemporaryKey(
            granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"], granted["Expiration"], role
        )

    def storage_options(self, key: s3.AccessKey | None) -> dict[str, Any]:
        options: dict[str, Any] = {"endpoint_url": self.endpoint_url}
        if key is None:
            options["anon"] = True
        else:
            options.update(key=key.key_id, secret=key.secret)
        return options

    def url(self, which: str, path: str = "") -> str:
        bucket = self.public_bucket if which == "public" else self.private_bucket
        return f"s3://{bucket}/{s3.LAKE_PREFIX}/{path}".rstrip("/")

    def federation(self, directory: Path, *, env_prefix: str = "GAIA_LAB_S3") -> Path:
        """A federation file with providers lake-public (anonymous) and lake-private (key from ``${PREFIX_*}``)."""
        path = directory / f"s3-federation-{env_prefix.lower()}.yaml"
        path.write_text(
            yaml.safe_dump(
                s3.s3_federation(self.endpoint_url, self.public_bucket, self.private_bucket, env_prefix=env_prefix)
            )
        )
        return path


@pytest.fixture(scope="session")
def s3_lake(lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lake]:
    server = s3.start_server(tmp_path_factory.mktemp("s3-server"))
    try:
        catalogues = s3.publish_lake(server, lake_dir)
        yield S3Lake(server, lake_dir, catalogues)
    finally:
        server.stop()
