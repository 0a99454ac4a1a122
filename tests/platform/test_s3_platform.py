"""`gaia-lab up --s3` at the component level: the S3 server component publishes the lake before it reports healthy,
the sessions' federation gains the two buckets with ${VAR} references only, and each session's key (made as the hub
makes it at spawn) reads what the platform config grants, and stops working when the next session's key is made."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

import gaia_lab as gl
from gaia_lab.datalake import s3
from gaia_lab.platform import hub_config, s3_server
from gaia_lab.platform.config import PORT_NAMES, load_config
from gaia_lab.platform.federation import write_session_federation
from gaia_lab.platform.layout import Layout, resolve_ports
from gaia_lab.platform.s3_users import session_credentials

pytestmark = pytest.mark.slow


def _code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_the_s3_component_publishes_the_lake_and_sessions_get_keys_of_their_own(tmp_path: Path, lake_dir: Path) -> None:
    without = load_config(None, data_dir=str(tmp_path / "off"), lake_dir=str(lake_dir), **dict.fromkeys(PORT_NAMES, 0))
    assert not without.s3 and resolve_ports(without).s3_port == 0  # no server, no port taken
    config = load_config(None, data_dir=str(tmp_path / "data"), lake_dir=str(lake_dir), s3=True, s3_port=0, port=0)
    assert config.s3 and list(config.s3_private_users) == ["*"]
    layout = Layout.from_config(config)
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    ports = resolve_ports(config)
    components, providers = s3_server.prepare(layout, config.ip, ports, sys.executable)
    (component,) = components
    assert component.name == "s3" and "--publish" in component.argv
    # the federation the sessions read: both buckets, credentials as references only
    federation = write_session_federation(lake_dir, "http://127.0.0.1:1/", tmp_path / "federation.yaml", providers)
    text = federation.read_text()
    assert "${GAIA_LAB_S3_ACCESS_KEY_ID}" in text and "${GAIA_LAB_S3_SECRET_ACCESS_KEY}" in text
    names = [p["name"] for p in yaml.safe_load(text)["providers"]]
    assert names[-2:] == ["lake-public", "lake-private"]
    # the hub is told where the state file is
    rendered = hub_config.render(config, layout, ports, "/venv/bin/python", hub_python="/hub/bin/python")
    assert str(s3_server.state_file(layout)) in rendered

    component.start()
    try:
        component.wait_healthy()
        state = s3_server.state_file(layout)
        assert oct(state.stat().st_mode & 0o777) == "0o600"
        server = s3.S3Server.from_state(state)
        assert server.endpoint_url == f"http://{config.ip}:{ports.s3_port}"
        keys = list(s3.iter_keys(server, s3.PRIVATE_BUCKET, "lake/"))
        assert f"{s3.LAKE_PREFIX}/catalog.json" in keys and any(k.endswith(".tif") for k in keys)

        alice_env = session_credentials(state, "alice", ["alice"])
        bob_env = session_credentials(state, "bob", ["alice"])
        tif = next(k for k in keys if k.endswith(".tif"))

        def client(env: dict[str, str]):  # type: ignore[no-untyped-def]
            return server.client(
                "s3", s3.AccessKey(env["GAIA_LAB_S3_ACCESS_KEY_ID"], env["GAIA_LAB_S3_SECRET_ACCESS_KEY"])
            )

        assert client(alice_env).get_object(Bucket=s3.PRIVATE_BUCKET, Key=tif)["Body"].read()
        assert _code(lambda: client(bob_env).get_object(Bucket=s3.PRIVATE_BUCKET, Key=tif)) == "AccessDenied"
        # a session opening the federation with its own key reads the catalogue of both buckets
        with pytest.MonkeyPatch.context() as patch:
            for name, value in alice_env.items():
                patch.setenv(name, value)
            catalog = gl.open_catalog(federation)
            assert float(catalog["lake-private/meteosat-bt108"].to_xarray()["bt108"].mean()) > 0
        # the next spawn's key replaces the previous one
        session_credentials(state, "alice", ["alice"])
        assert _code(lambda: client(alice_env).get_object(Bucket=s3.PRIVATE_BUCKET, Key=tif)) == "InvalidAccessKeyId"
    finally:
        component.stop()
