"""The lake server, a real process, asked on a raw socket: HTTP clients (requests, browsers) normalise "../" away
before sending, so only raw bytes show what the server does with traversal, encoded dots, absolute paths, NUL
bytes and links out of the lake."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gaia_lab.platform.layout import free_port

SECRET = b"s3cr3t-outside-the-lake"


def raw_get(port: int, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """Status and body of one request sent as bytes, exactly as given."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    base = tmp_path_factory.mktemp("lake-server")
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    root = base / "lake"
    (root / "odatis" / "store.zarr").mkdir(parents=True)
    (root / "federation.yaml").write_text("providers: []\n")
    (root / "odatis" / "store.zarr" / ".zmetadata").write_text("{}")
    (root / "odatis" / "catalog.json").write_text('{"type": "Catalog"}')
    (root / "escape.txt").symlink_to(base / "secret.txt")
    (root / "escape-relative.txt").symlink_to(Path("..") / "secret.txt")
    (root / "outdir").symlink_to(base / "outside")
    (root / "inside.json").symlink_to(root / "odatis" / "catalog.json")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gaia_lab.platform.lake_server", "--root", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if raw_get(port, b"/_health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "the lake server died"
            assert time.monotonic() < deadline, "the lake server did not answer"
            time.sleep(0.1)
        yield port, root
    finally:
        proc.terminate()
        proc.wait(30)


def test_files_and_links_inside_the_lake_are_served(lake):
    port, _root = lake
    assert raw_get(port, b"/federation.yaml") == (200, b"providers: []\n")
    assert raw_get(port, b"/odatis/store.zarr/.zmetadata") == (200, b"{}")
    assert raw_get(port, b"/inside.json") == (200, b'{"type": "Catalog"}')
    assert raw_get(port, b"/odatis/%63atalog.json") == (200, b'{"type": "Catalog"}')  # encoded, harmless


TRAVERSALS = [
    b"/../secret.txt",
    b"/../../../../../../etc/passwd",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt",
    b"/.%2e/secret.txt",
    b"/odatis/../../secret.txt",
    b"/odatis/%2e%2e/%2e%2e/secret.txt",
    b"/..%2fsecret.txt",
    b"/odatis%2f..%2f..%2fsecret.txt",
    b"/..%5csecret.txt",
    b"/..\\secret.txt",
    b"//etc/passwd",
    b"/%2fetc%2fpasswd",
    b"/%2Fetc/passwd",
    b"///" + str(Path("/etc/passwd")).encode().lstrip(b"/"),
    b"/./federation.yaml/../../secret.txt",
    b"/escape.txt",
    b"/escape-relative.txt",
    b"/outdir/secret.txt",
    b"/outdir/../secret.txt",
    b"/%00",
    b"/federation.yaml%00.png",
    b"http://127.0.0.1/../secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode(errors="replace"))
def test_paths_out_of_the_lake_are_refused(lake, target):
    port, _root = lake
    status, body = raw_get(port, target)
    assert 400 <= status < 500, (target, status, body[:200])
    assert SECRET not in body
    assert b"root:" not in body  # /etc/passwd


@pytest.mark.parametrize("method", [b"PUT", b"POST", b"DELETE", b"PATCH"])
def test_the_lake_is_read_only_over_http(lake, method):
    port, root = lake
    status, _body = raw_get(port, b"/federation.yaml", method=method)
    assert status == 405, (method, status)
    assert (root / "federation.yaml").read_text() == "providers: []\n"


def test_the_health_answer_names_no_path(lake):
    port, root = lake
    status, body = raw_get(port, b"/_health")
    assert status == 200
    assert str(root).encode() not in body
    assert os.fsencode(root.parent) not in body
