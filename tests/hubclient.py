"""A small JupyterHub client for the platform tests: log in with a password, start a server, run kernel code."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import requests
import websocket


class KernelError(AssertionError):
    pass


class HubUser:
    def __init__(self, base_url: str, name: str, password: str) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.name = name
        self.password = password
        self.session = requests.Session()
        self.token: str | None = None

    # -- hub ---------------------------------------------------------------------------------------------------
    def login(self) -> requests.Response:
        self.session.get(self.base + "hub/login", timeout=30)
        xsrf = self.session.cookies.get("_xsrf", "")
        response = self.session.post(
            self.base + "hub/login?next=",
            data={"username": self.name, "password": self.password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        return response

    def create_token(self) -> str:
        xsrf = self.session.cookies.get("_xsrf", "")
        response = self.session.post(
            f"{self.base}hub/api/users/{self.name}/tokens",
            headers={"X-XSRFToken": xsrf},
            json={"note": "platform test", "expires_in": 3600},
            timeout=30,
        )
        response.raise_for_status()
        self.token = response.json()["token"]
        return self.token

    @property
    def headers(self) -> dict[str, str]:
        assert self.token
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base + path.lstrip("/"), headers=self.headers, timeout=60, **kwargs)

    def start_server(self, timeout: float = 180) -> float:
        started = time.monotonic()
        response = self.api("POST", f"hub/api/users/{self.name}/server")
        assert response.status_code in (201, 202, 400), (response.status_code, response.text)
        self.wait_ready(timeout)
        return time.monotonic() - started

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"hub/api/users/{self.name}").json()
            server = (model.get("servers") or {}).get("")
            if not server and not model.get("pending"):
                raise AssertionError(f"{self.name} has no server starting: {model}")
            # The route may lag the ready flag by a moment.
            if server and server.get("ready") and self.api("GET", f"user/{self.name}/api/status").status_code == 200:
                return
            time.sleep(0.25)
        raise AssertionError(f"server of {self.name} not ready after {timeout} s: {model}")

    def stop_server(self) -> None:
        self.api("DELETE", f"hub/api/users/{self.name}/server")

    # -- kernel ------------------------------------------------------------------------------------------------
    def start_kernel(self) -> str:
        response = self.api("POST", f"user/{self.name}/api/kernels", json={"name": "python3"})
        response.raise_for_status()
        return response.json()["id"]

    def run(self, code: str, timeout: float = 180, kernel_id: str | None = None) -> str:
        """Run code in a kernel of this user's server; stdout, or KernelError with the traceback."""
        kernel_id = kernel_id or self.start_kernel()
        ws_url = self.base.replace("http://", "ws://") + f"user/{self.name}/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "username": self.name,
                            "session": uuid.uuid4().hex,
                            "msg_type": "execute_request",
                            "version": "5.3",
                            "date": datetime.now(UTC).isoformat(),
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {
                            "code": code,
                            "silent": False,
                            "store_history": False,
                            "user_expressions": {},
                            "allow_stdin": False,
                            "stop_on_error": True,
                        },
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            out: list[str] = []
            error = None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(ws.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["msg_type"]
                content = message["content"]
                if kind == "stream":
                    out.append(content["text"])
                elif kind == "error":
                    error = "\n".join(content["traceback"])
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            else:
                raise KernelError(f"kernel code did not finish in {timeout} s; output so far: {''.join(out)}")
        finally:
            ws.close()
        if error:
            raise KernelError(f"{error}\n--- stdout ---\n{''.join(out)}")
        return "".join(out)
