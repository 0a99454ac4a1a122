"""The portal as a platform component: its hub service, role, default port, the STAC API seam and the launcher's
GAIA Lab section, as rendered into the hub's config."""

from __future__ import annotations

import ast
from pathlib import Path

from gaia_lab.platform import hub_config, portal_service
from gaia_lab.platform.config import load_config
from gaia_lab.platform.layout import Layout, Ports

PORTS = Ports(18000, 18081, 18001, 18002, 18003, 18004, 18005, 18006, 18007, 18010, portal_port=18019)


def test_the_hub_registers_the_portal_with_its_role_and_the_launcher_section(tmp_path: Path) -> None:
    assert portal_service.missing() is None, portal_service.missing()
    config = load_config(None, data_dir=str(tmp_path), lake_dir=str(tmp_path / "lake"))
    assert config.portal_port == 8019
    layout = Layout(tmp_path, tmp_path / "lake")
    text = hub_config.render(config, layout, PORTS, "/opt/sessions/bin/python")
    assert "'name': 'gaia-lab-portal', 'url': 'http://127.0.0.1:18019'" in text
    assert "os.environ['GAIA_LAB_PORTAL_HUB_TOKEN']" in text
    roles = {role["name"]: role["scopes"] for role in hub_config.roles(portal=True)}
    assert portal_service.ACCESS_SCOPE in roles["user"]
    assert set(roles["gaia-lab-portal"]) == {"servers", "read:servers", "access:servers", "read:users:name"}
    args_line = next(line for line in text.splitlines() if line.startswith("c.Spawner.args"))
    args = ast.literal_eval(args_line.split("=", 1)[1].strip())
    servers = ast.literal_eval(next(a for a in args if a.startswith("--ServerProxy.servers=")).split("=", 1)[1])
    assert {name: s["launcher_entry"]["category"] for name, s in servers.items()} == dict.fromkeys(
        ("gaia-lab-portal", "gaia-lab-tutorials", "gaia-lab-docs"), "GAIA Lab"
    )
    assert all(s["command"][0] == "/opt/sessions/bin/python" for s in servers.values())
    off = load_config(None, data_dir=str(tmp_path), lake_dir=str(tmp_path / "lake"), portal=False)
    off_text = hub_config.render(off, layout, PORTS, "/opt/sessions/bin/python")
    assert "'name': 'gaia-lab-portal', 'url'" not in off_text and "ServerProxy" not in off_text


def test_the_pages_stac_api_is_one_setting(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "lake")
    default = load_config(None, data_dir=str(tmp_path))
    assert portal_service.settings(default, layout, PORTS)["stac_api_url"] == "/services/gaia-lab-stac/"
    other = load_config(None, data_dir=str(tmp_path), portal_stac_api_url="http://127.0.0.1:9999/stac/")
    settings = portal_service.settings(other, layout, PORTS)
    assert settings["stac_api_url"] == "http://127.0.0.1:9999/stac/"
    assert Path(str(settings["maplibre_dir"]), "maplibre-gl.js").is_file()
    assert portal_service.public_url("127.0.0.1", PORTS) == "http://127.0.0.1:18000/services/gaia-lab-portal/"


def test_first_visit_gives_the_tutorials_read_only_and_a_writable_copy(tmp_path: Path) -> None:
    from gaia_lab.platform.accounts import prepare_home

    config = load_config(None, data_dir=str(tmp_path))
    tutorials = Path(portal_service.workshop_dir(config))
    assert tutorials == portal_service.REPOSITORY / "notebooks"
    assert portal_service.workshop_dir(load_config(None, data_dir=str(tmp_path), tutorials=False)) == ""
    assert portal_service.workshop_dir(load_config(None, data_dir=str(tmp_path), workshop_dir="/course")) == "/course"
    home = tmp_path / "home"
    home.mkdir()
    prepare_home(home, workshop=str(tutorials))
    names = sorted(p.name for p in tutorials.glob("*.ipynb"))
    assert sorted(p.name for p in (home / "workshop").glob("*.ipynb")) == names
    assert sorted(p.name for p in (home / "my-workshop").glob("*.ipynb")) == names
    original, mine = home / "workshop" / names[0], home / "my-workshop" / names[0]
    assert original.stat().st_mode & 0o777 == 0o444
    assert mine.stat().st_mode & 0o777 == 0o644 and (home / "my-workshop").stat().st_mode & 0o777 == 0o755
    assert mine.stat().st_uid == home.stat().st_uid
    assert mine.read_bytes() == (tutorials / names[0]).read_bytes()
    mine.write_text("{}")  # the user's own edits stay: a later spawn copies nothing again
    prepare_home(home, workshop=str(tutorials))
    assert mine.read_text() == "{}"
    assert not (home / "my-workshop.partial").exists()
