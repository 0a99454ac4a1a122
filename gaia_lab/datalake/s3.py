"""The data lake on an S3-compatible object store: a moto S3 + IAM server on 127.0.0.1, one public and one private
bucket, per-user IAM access keys, and the lake's STAC catalogues, Zarr stores and COGs uploaded to the buckets.

No S3 server installs here from the package registries (Debian has no MinIO or Garage; PyPI has none that runs
standalone), so the server is moto's (``moto[server,s3,iam]``), the server s3fs and zarr test against. moto accepts
any credentials until IAM authentication is switched on; ``serve`` therefore creates the buckets and an admin IAM
user, then switches authentication on before it tells anyone its address: from then on a request signed with an
unknown or wrong key, or by a user whose policy does not grant the bucket, is refused by the server.

moto's IAM mode answers unsigned requests with an internal error, though S3 serves them as the anonymous principal
(what a public bucket policy with ``"Principal": "*"`` grants). The server below signs every unsigned read as an IAM
user ``anonymous`` whose policy grants exactly the public buckets, so the server's own IAM check still decides;
unsigned writes are refused.

Run ``python -m gaia_lab.datalake.s3 serve --port N --state FILE`` (what :func:`start_server` does); the state file
(mode 0600) holds the endpoint and the admin key that :class:`S3Server` uses to create users and upload.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gaia_lab.errors import PlatformError
from gaia_lab.platform.s3_users import read_policy

HOST = "127.0.0.1"
REGION = "us-east-1"
PUBLIC_BUCKET = "gaia-public"
PRIVATE_BUCKET = "gaia-private"
LAKE_PREFIX = "lake"
ANONYMOUS_USER = "anonymous"
ADMIN_USER = "gaia-admin"


@dataclass(frozen=True)
class AccessKey:
    """An IAM access key; the secret never shows in reprs (nor, through them, in logs or tracebacks)."""

    key_id: str
    secret: str = field(repr=False)

    def as_environment(self, prefix: str = "AWS") -> dict[str, str]:
        """``{PREFIX_ACCESS_KEY_ID: ..., PREFIX_SECRET_ACCESS_KEY: ...}``, the names federation files refer to."""
        return {f"{prefix}_ACCESS_KEY_ID": self.key_id, f"{prefix}_SECRET_ACCESS_KEY": self.secret}


# ----------------------------------------------------------------------------------------------------------------
# The server process


class _AnonymousReads:
    """WSGI middleware: unsigned GET/HEAD requests are signed as the ``anonymous`` IAM user; unsigned writes get 403."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.key: AccessKey | None = None  # set once the anonymous user exists

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        query = str(environ.get("QUERY_STRING", ""))
        signed = "HTTP_AUTHORIZATION" in environ or "Signature=" in query or "X-Amz-Signature=" in query
        if signed or self.key is None or str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", "0")])
            return [b""]
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        host = str(environ.get("HTTP_HOST", ""))
        path = quote(str(environ.get("PATH_INFO", "/")), safe="/~")
        request = AWSRequest(
            method=str(environ["REQUEST_METHOD"]),
            url=f"http://{host}{path}" + (f"?{query}" if query else ""),
            headers={"Host": host},
        )
        S3SigV4Auth(Credentials(self.key.key_id, self.key.secret), "s3", REGION).add_auth(request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
            environ["HTTP_" + name.upper().replace("-", "_")] = request.headers[name]
        return self.app(environ, start_response)


def _serve(host: str, port: int, state: Path, public: list[str], private: list[str], publish: Path | None) -> None:
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    middleware = _AnonymousReads(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, middleware, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://{host}:{port}"
    # Authentication is still off: moto takes any key for these set-up calls, made before anybody knows the port.
    bootstrap = {"endpoint_url": endpoint, "region_name": REGION}
    bootstrap |= {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    iam = boto3.client("iam", **bootstrap)
    s3 = boto3.client("s3", **bootstrap)
    for bucket in [*public, *private]:
        s3.create_bucket(Bucket=bucket)

    def user(name: str, policy: dict[str, Any]) -> AccessKey:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-access", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])

    admin = user(
        ADMIN_USER, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    middleware.key = user(ANONYMOUS_USER, read_policy(public))
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # authentication on, for every request from now on
    ActionAuthenticatorMixin.request_count = 0
    if publish is not None:
        publish_lake(S3Server(endpoint, admin, public[0], private[0]), publish)
    document = {
        "endpoint_url": endpoint,
        "admin": {"key_id": admin.key_id, "secret": admin.secret},
        "public_buckets": public,
        "private_buckets": private,
        "pid": os.getpid(),
    }
    partial = state.with_suffix(".partial")
    partial.write_text(json.dumps(document))
    partial.chmod(0o600)
    partial.replace(state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


# ----------------------------------------------------------------------------------------------------------------
# The client side: start, administer, publish


@dataclass
class S3Server:
    """A running S3 server (or one started elsewhere, from its state file); administers it with the admin key."""

    endpoint_url: str
    admin: AccessKey
    public_bucket: str = PUBLIC_BUCKET
    private_bucket: str = PRIVATE_BUCKET
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path | None = None

    @classmethod
    def from_state(cls, state: Path) -> S3Server:
        document = json.loads(state.read_text())
        return cls(
            endpoint_url=document["endpoint_url"],
            admin=AccessKey(**document["admin"]),
            public_bucket=document["public_buckets"][0],
            private_bucket=document["private_buckets"][0],
        )

    def client(self, service: str, key: AccessKey | None = None) -> Any:
        """A boto3 client for ``service`` ("s3", "iam") signed with ``key`` (the admin's by default)."""
        import boto3

        key = key or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=key.key_id,
            aws_secret_access_key=key.secret,
        )

    def create_user(self, name: str, *, private: bool) -> AccessKey:
        """An IAM user reading the public bucket, and the private one when ``private`` (else only the private
        bucket's JSON metadata: its catalogue can be browsed, its data not read); returns a new access key.
        An existing user keeps its name and gets its policy replaced and a new key."""
        iam = self.client("iam")
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=name)
        buckets = [self.public_bucket, *([self.private_bucket] if private else [])]
        policy = read_policy(buckets, metadata_of=[] if private else [self.private_bucket])
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-access", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])

    def revoke(self, name: str, key: AccessKey) -> None:
        """Delete ``key`` of user ``name``: requests signed with it are refused from now on (an expired key)."""
        self.client("iam").delete_access_key(UserName=name, AccessKeyId=key.key_id)

    def upload(self, source: Path, bucket: str, prefix: str, *, rewrite: Mapping[str, str] | None = None) -> int:
        """Upload the files under ``source`` to ``s3://bucket/prefix/``; in text files (JSON, CSV, XML, YAML) each
        ``rewrite`` key is replaced by its value (absolute local URLs become s3:// ones). Returns the file count."""
        s3 = self.client("s3")
        count = 0
        for path in sorted(source.rglob("*")):
            if not path.is_file() or path.suffix == ".partial" or path.name == ".gaia-build.json":
                continue
            key = f"{prefix}/{path.relative_to(source).as_posix()}" if prefix else path.relative_to(source).as_posix()
            body = path.read_bytes()
            if rewrite and path.suffix in (".json", ".csv", ".xml", ".yaml"):
                text = body.decode("utf-8")
                for old, new in rewrite.items():
                    text = text.replace(old, new)
                body = text.encode("utf-8")
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            count += 1
        return count

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_command(
    state: Path,
    *,
    host: str = HOST,
    port: int,
    public: str = PUBLIC_BUCKET,
    private: str = PRIVATE_BUCKET,
    publish: Path | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The command that runs the server (for supervisors that start it themselves); ``publish``: a lake directory
    uploaded to both buckets before the server reports ready."""
    return [
        python,
        "-m",
        "gaia_lab.datalake.s3",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--state",
        str(state),
        "--public",
        public,
        "--private",
        private,
        *(["--publish", str(publish)] if publish is not None else []),
    ]


def wait_for_state(state: Path, timeout: float = 60.0, alive: Callable[[], bool] = lambda: True) -> S3Server:
    """The server's handle once it has written its state file (set-up done, authentication on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists():
            return S3Server.from_state(state)
        if not alive():
            break
        time.sleep(0.1)
    raise PlatformError(f"the S3 server did not come up within {timeout:.0f} s", component="s3")


def start_server(
    workdir: Path,
    *,
    host: str = HOST,
    port: int | None = None,
    public: str = PUBLIC_BUCKET,
    private: str = PRIVATE_BUCKET,
    timeout: float = 60.0,
) -> S3Server:
    """Start the S3 server in its own process group on ``host`` (a free port by default); ``stop()`` ends it."""
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "s3-server.json"
    state.unlink(missing_ok=True)
    log = workdir / "s3-server.log"
    command = server_command(state, host=host, port=port or _free_port(host), public=public, private=private)
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server = wait_for_state(state, timeout, alive=lambda: process.poll() is None)
    except PlatformError:
        process.kill()
        process.wait()
        tail = log.read_text(errors="replace")[-2000:]
        raise PlatformError(f"the S3 server did not start; its log ends with:\n{tail}", component="s3") from None
    server.process = process
    server.log = log
    return server


def lake_providers(lake: Path) -> list[dict[str, Any]]:
    """The providers of the lake's federation file (those with a local static STAC catalogue)."""
    import yaml

    document = yaml.safe_load((lake / "federation.yaml").read_text())
    return [
        p for p in document["providers"] if p.get("type", "stac") == "stac" and str(p.get("url", "")).startswith("./")
    ]


def _root_catalog(lake: Path, catalog_id: str, title: str) -> dict[str, Any]:
    """A root STAC catalogue linking the lake's catalogues, so that one provider reads a whole bucket."""
    links: list[dict[str, Any]] = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    for provider in lake_providers(lake):
        links.append(
            {"rel": "child", "href": provider["url"], "type": "application/json", "title": provider.get("title")}
        )
    return {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": catalog_id,
        "title": title,
        "description": f"{title}: the GAIA Lab demo data lake published to S3.",
        "links": links,
    }


def publish_lake(server: S3Server, lake: Path, *, prefix: str = LAKE_PREFIX) -> dict[str, str]:
    """Upload the lake to both buckets (absolute local URLs rewritten to s3:// ones) with a root catalogue in each;
    returns ``{bucket: s3 URL of its root catalog.json}``."""
    urls = {}
    for bucket, kind in ((server.public_bucket, "public"), (server.private_bucket, "private")):
        base = f"s3://{bucket}/{prefix}"
        rewrite = {lake.resolve().as_uri(): base, str(lake.resolve()): base}
        server.upload(lake, bucket, prefix, rewrite=rewrite)
        root = _root_catalog(lake, f"gaia-lake-{kind}", f"GAIA Lab lake ({kind} bucket)")
        server.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/catalog.json", Body=json.dumps(root).encode())
        urls[bucket] = f"{base}/catalog.json"
    return urls


def s3_storage_options(endpoint_url: str, *, anon: bool = False, env_prefix: str = "GAIA_LAB_S3") -> dict[str, Any]:
    """A provider's ``storage_options`` for this server: ``anon`` for the public bucket, else ``${VAR}`` references
    to the user's key (never the secret itself)."""
    options: dict[str, Any] = {"endpoint_url": endpoint_url}
    if anon:
        options["anon"] = True
    else:
        options["key"] = f"${{{env_prefix}_ACCESS_KEY_ID}}"
        options["secret"] = f"${{{env_prefix}_SECRET_ACCESS_KEY}}"
    return options


def s3_federation(
    endpoint_url: str,
    public_bucket: str = PUBLIC_BUCKET,
    private_bucket: str = PRIVATE_BUCKET,
    *,
    prefix: str = LAKE_PREFIX,
    env_prefix: str = "GAIA_LAB_S3",
) -> dict[str, Any]:
    """A federation document with the two buckets of a published lake as providers ``lake-public`` (anonymous) and
    ``lake-private`` (the key from ``${<env_prefix>_ACCESS_KEY_ID}`` and ``${<env_prefix>_SECRET_ACCESS_KEY}``)."""
    return {
        "title": "GAIA Lab data lake on S3",
        "providers": [
            {
                "name": "lake-public",
                "title": "GAIA Lab lake, public S3 bucket",
                "hub": "ocean",
                "type": "stac",
                "url": f"s3://{public_bucket}/{prefix}/catalog.json",
                "storage_options": s3_storage_options(endpoint_url, anon=True),
            },
            {
                "name": "lake-private",
                "title": "GAIA Lab lake, private S3 bucket",
                "hub": "ocean",
                "type": "stac",
                "url": f"s3://{private_bucket}/{prefix}/catalog.json",
                "storage_options": s3_storage_options(endpoint_url, env_prefix=env_prefix),
            },
        ],
    }


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gaia_lab.datalake.s3")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the S3 + IAM server (moto) until SIGTERM")
    serve.add_argument("--host", default=HOST)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--state", type=Path, required=True, help="file written (mode 0600) once set up")
    serve.add_argument("--public", action="append", default=[], help="public bucket (repeatable)")
    serve.add_argument("--private", action="append", default=[], help="private bucket (repeatable)")
    serve.add_argument("--publish", type=Path, help="a lake directory to publish to the buckets before serving")
    args = parser.parse_args(argv)
    public, private = args.public or [PUBLIC_BUCKET], args.private or [PRIVATE_BUCKET]
    _serve(args.host, args.port, args.state, public, private, args.publish)


def iter_keys(server: S3Server, bucket: str, prefix: str = "") -> Iterator[str]:
    """The object keys under ``prefix`` in ``bucket`` (read with the admin key)."""
    paginator = server.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield str(item["Key"])


if __name__ == "__main__":
    _main()
