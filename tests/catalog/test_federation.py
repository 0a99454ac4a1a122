import os
import pickle
from pathlib import Path

import pytest

import gaia_lab as gl
from gaia_lab.catalog.federation import load_federation, parse_federation
from gaia_lab.errors import ConfigError, EntryNotFound, GaiaLabError, ProviderError


def provider(**overrides):
    return {"name": "odatis", "hub": "ocean", "type": "stac", "url": "./odatis/catalog.json", **overrides}


def test_relative_urls_resolve_against_the_file(tmp_path):
    config = tmp_path / "fed.yaml"
    config.write_text("providers:\n  - {name: odatis, hub: ocean, type: stac, url: ./odatis/catalog.json}\n")
    (p,) = load_federation(config)
    assert p.url == str(tmp_path / "odatis" / "catalog.json")
    assert p.timeout == 10.0 and p.type == "stac" and p.display_title == "odatis"


def test_environment_variables_expand_in_urls_and_headers(monkeypatch):
    monkeypatch.setenv("ODATIS_TOKEN", "s3cret")
    monkeypatch.setenv("GAIA_LAB_LAKE", "/data/lake")
    (p,) = parse_federation(
        {
            "providers": [
                provider(
                    url="${GAIA_LAB_LAKE}/odatis/catalog.json", headers={"Authorization": "Bearer ${ODATIS_TOKEN}"}
                )
            ]
        }
    )
    assert p.url == "/data/lake/odatis/catalog.json"
    assert p.headers == {"Authorization": "Bearer s3cret"}


def test_unset_variable_is_named(monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"NOPE_TOKEN"):
        parse_federation({"providers": [provider(headers={"Authorization": "${NOPE_TOKEN}"})]})
    (p,) = parse_federation({"providers": [provider(headers={"Authorization": "${NOPE_TOKEN:-anonymous}"})]})
    assert p.headers["Authorization"] == "anonymous"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"hub": "moon"}, "hub"),
        ({"type": "wms"}, "type"),
        ({"timeout": -1}, "timeout"),
        ({"colour": "blue"}, "unknown keys"),
        ({"url": ""}, "url"),
    ],
)
def test_invalid_providers_are_rejected_with_the_provider_named(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_federation({"providers": [provider(**overrides)]})
    assert "provider" in str(info.value)


def test_duplicate_names_and_empty_documents_are_rejected():
    with pytest.raises(ConfigError, match="duplicate"):
        parse_federation({"providers": [provider(), provider()]})
    for document in ({}, {"providers": []}, [], {"providers": [1]}):
        with pytest.raises(ConfigError):
            parse_federation(document)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_federation(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [unclosed\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_federation(broken)


def test_default_catalog_lookup_order(tmp_path, monkeypatch):
    monkeypatch.delenv("GAIA_LAB_CATALOG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GAIA_LAB_LAKE", str(tmp_path / "no-lake"))
    with pytest.raises(ConfigError, match="gaia-lab data build"):
        gl.open_catalog()
    user = tmp_path / "config" / "gaia-lab" / "catalog.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("providers:\n  - {name: mine, hub: land, type: stac, url: /x/catalog.json}\n")
    assert [p.name for p in gl.open_catalog().providers] == ["mine"]
    env = tmp_path / "env.yaml"
    env.write_text("providers:\n  - {name: fromenv, hub: ocean, type: stac, url: /y/catalog.json}\n")
    monkeypatch.setenv("GAIA_LAB_CATALOG", str(env))
    assert [p.name for p in gl.open_catalog().providers] == ["fromenv"]


def test_unknown_provider_in_an_id(tmp_path):
    cat = gl.open_catalog({"providers": [provider(url=str(tmp_path / "missing.json"))]})
    with pytest.raises(EntryNotFound, match="no provider 'theia'"):
        cat["theia/x"]
    with pytest.raises(EntryNotFound, match="provider"):
        cat["no-slash"]
    with pytest.raises(ProviderError, match="odatis") as info:
        cat["odatis/x"]
    assert info.value.provider == "odatis"


def test_errors_pickle_with_their_context():
    for error in (
        ProviderError("odatis", "HTTP 500", url="http://x", status=500),
        gl.AssetError("/lake/a.tif", "truncated", entry_id="theia/dem"),
        gl.InvalidQuery("bbox", (1, 2), "bad"),
        EntryNotFound("a/b", "missing"),
    ):
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error) and str(clone) == str(error) and clone.__dict__ == error.__dict__
        assert isinstance(clone, GaiaLabError)


def test_committed_federation_files_parse(monkeypatch):
    monkeypatch.setenv("GAIA_LAB_LAKE", "/lake")
    root = Path(__file__).resolve().parents[2] / "catalogs"
    files = sorted(root.glob("*.yaml"))
    assert files, "catalogs/ holds the federation configs"
    for path in files:
        providers = load_federation(path)
        assert providers and all(p.name for p in providers), path
    assert os.environ["GAIA_LAB_LAKE"] == "/lake"
