"""The S3 server itself: authentication is on (wrong, unknown and revoked keys, and users without a grant, are
refused by the server), the public bucket reads anonymously, the lake is published whole to both buckets."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from s3_server import S3Lake

from gaia_lab.datalake import s3

CATALOG = f"{s3.LAKE_PREFIX}/catalog.json"
ZARR_CHUNK_DIR = f"{s3.LAKE_PREFIX}/odatis/ostia-sst/ostia-sst.zarr/sst/c/"


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def _anonymous(lake: S3Lake) -> object:
    return boto3.client(
        "s3", endpoint_url=lake.endpoint_url, region_name=s3.REGION, config=Config(signature_version=UNSIGNED)
    )


def _a_chunk(lake: S3Lake) -> str:
    return next(k for k in s3.iter_keys(lake.server, lake.private_bucket, ZARR_CHUNK_DIR))


def test_the_lake_is_published_whole_to_both_buckets(s3_lake: S3Lake) -> None:
    local = sorted(
        p.relative_to(s3_lake.lake).as_posix()
        for p in s3_lake.lake.rglob("*")
        if p.is_file() and p.name != ".gaia-build.json" and p.suffix != ".partial"
    )
    for bucket in (s3_lake.public_bucket, s3_lake.private_bucket):
        keys = sorted(k.removeprefix(f"{s3.LAKE_PREFIX}/") for k in s3.iter_keys(s3_lake.server, bucket, "lake/"))
        assert keys == sorted([*local, "catalog.json"])
    admin = s3_lake.server.client("s3")
    csv = admin.get_object(Bucket=s3_lake.private_bucket, Key=f"{s3.LAKE_PREFIX}/climeri/esm-datastore.csv")
    text = csv["Body"].read().decode()
    assert "file://" not in text and f"s3://{s3_lake.private_bucket}/{s3.LAKE_PREFIX}/climeri/" in text
    # the same bytes as the local file, for a binary one
    tif = next(p for p in local if p.endswith(".tif"))
    body = admin.get_object(Bucket=s3_lake.public_bucket, Key=f"{s3.LAKE_PREFIX}/{tif}")["Body"].read()
    assert body == (s3_lake.lake / tif).read_bytes()


def test_anonymous_reads_the_public_bucket_only(s3_lake: S3Lake) -> None:
    anonymous = _anonymous(s3_lake)
    assert anonymous.get_object(Bucket=s3_lake.public_bucket, Key=CATALOG)["Body"].read()  # type: ignore[attr-defined]
    assert anonymous.list_objects_v2(Bucket=s3_lake.public_bucket, Prefix="lake/")["KeyCount"] > 0  # type: ignore[attr-defined]
    assert _code(lambda: anonymous.get_object(Bucket=s3_lake.private_bucket, Key=CATALOG)) == "AccessDenied"  # type: ignore[attr-defined]
    put = lambda: anonymous.put_object(Bucket=s3_lake.public_bucket, Key="x", Body=b"x")  # type: ignore[attr-defined]  # noqa: E731
    assert _code(put) in ("403", "Forbidden", "AccessDenied")


def test_granted_users_read_the_private_bucket_and_others_only_its_metadata(s3_lake: S3Lake) -> None:
    alice = s3_lake.server.client("s3", s3_lake.credentials("alice", private=True))
    bob = s3_lake.server.client("s3", s3_lake.credentials("bob", private=False))
    chunk = _a_chunk(s3_lake)
    assert alice.get_object(Bucket=s3_lake.private_bucket, Key=chunk)["Body"].read()
    assert _code(lambda: bob.get_object(Bucket=s3_lake.private_bucket, Key=chunk)) == "AccessDenied"
    assert _code(lambda: bob.list_objects_v2(Bucket=s3_lake.private_bucket)) == "AccessDenied"
    # the catalogue of the private bucket can be browsed by every user (not anonymously): STAC and zarr.json
    assert bob.get_object(Bucket=s3_lake.private_bucket, Key=CATALOG)["Body"].read()
    # both read the public bucket
    for client in (alice, bob):
        assert client.get_object(Bucket=s3_lake.public_bucket, Key=chunk)["Body"].read()


def test_wrong_unknown_and_revoked_keys_are_refused_by_the_server(s3_lake: S3Lake) -> None:
    alice = s3_lake.credentials("alice", private=True)
    wrong = s3_lake.server.client("s3", s3.AccessKey(alice.key_id, "x" * 40))
    unknown = s3_lake.server.client("s3", s3.AccessKey("AKIA" + "Z" * 16, "y" * 40))
    assert _code(lambda: wrong.get_object(Bucket=s3_lake.public_bucket, Key=CATALOG)) == "SignatureDoesNotMatch"
    assert _code(lambda: unknown.get_object(Bucket=s3_lake.public_bucket, Key=CATALOG)) == "InvalidAccessKeyId"
    revoked = s3_lake.fresh_credentials("carol", private=True)
    carol = s3_lake.server.client("s3", revoked)
    assert carol.get_object(Bucket=s3_lake.private_bucket, Key=CATALOG)["Body"].read()
    s3_lake.server.revoke("carol", revoked)
    assert _code(lambda: carol.get_object(Bucket=s3_lake.private_bucket, Key=CATALOG)) == "InvalidAccessKeyId"
    # moto would take any key with authentication off: creating a user is refused to a non-admin key
    iam = s3_lake.server.client("iam", alice)
    assert _code(lambda: iam.create_user(UserName="mallory")) == "AccessDenied"


def test_the_state_file_is_private_and_keys_hide_their_secret(s3_lake: S3Lake, tmp_path: Path) -> None:
    assert s3_lake.server.log is not None
    state = s3_lake.server.log.parent / "s3-server.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    key = s3_lake.credentials("alice", private=True)
    assert key.secret not in repr(key) and key.secret not in repr(s3_lake.server)
    assert s3_lake.server.admin.secret not in repr(s3_lake.server)


def test_a_port_in_use_is_a_platform_error(s3_lake: S3Lake, tmp_path: Path) -> None:
    from gaia_lab.errors import PlatformError

    port = int(s3_lake.endpoint_url.rsplit(":", 1)[1])
    with pytest.raises(PlatformError, match="s3"):
        s3.start_server(tmp_path, port=port, timeout=30)
