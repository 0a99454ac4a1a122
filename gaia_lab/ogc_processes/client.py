"""``gl.processes()`` and ``gl.process()``: the platform's OGC API - Processes from Python.

In a platform session the service's URL (``$GAIA_LAB_PROCESSES_URL``) and the session's token
(``$JUPYTERHUB_API_TOKEN``) are in the environment; elsewhere pass ``url=`` and ``token=``::

    job = gl.process("aggregate", entry="odatis/ostia-sst", period="monthly")   # submitted, async
    job.wait()                      # progress bar until it ends
    ds = job.result()               # the output, opened as a cube
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from gaia_lab.errors import GaiaLabError

ENV_URL = "GAIA_LAB_PROCESSES_URL"
ENV_TOKEN = "JUPYTERHUB_API_TOKEN"
POLL_SECONDS = 0.5


class ProcessServiceError(GaiaLabError):
    """The processes service refused a request or a job failed; ``status`` is the HTTP status (0: the job)."""

    def __init__(self, message: str, *, status: int = 0, job_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.job_id = job_id


class _Service:
    def __init__(self, url: str | None, token: str | None) -> None:
        base = url or os.environ.get(ENV_URL)
        if not base:
            raise ProcessServiceError(
                f"no processes service: set ${ENV_URL} (platform sessions have it) or pass url=", status=0
            )
        self.url = base.rstrip("/")
        self.token = token or os.environ.get(ENV_TOKEN)
        self.session = requests.Session()
        if self.token:
            self.session.headers["Authorization"] = f"token {self.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, f"{self.url}/{path.lstrip('/')}", timeout=60, **kwargs)
        except requests.RequestException as exc:
            raise ProcessServiceError(f"cannot reach the processes service at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("description") or body.get("detail") or body
            except ValueError:
                detail = response.text[:300]
            raise ProcessServiceError(
                f"{method} {path}: HTTP {response.status_code}: {detail}", status=response.status_code
            )
        return response


def processes(*, url: str | None = None, token: str | None = None) -> list[dict[str, Any]]:
    """The processes the service offers (id, title, description, ...)."""
    listed: list[dict[str, Any]] = _Service(url, token).request("GET", "processes?f=json").json()["processes"]
    return listed


def process(
    process_id: str,
    inputs: dict[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **named_inputs: Any,
) -> ProcessJob:
    """Submit a process run (asynchronous) and return its job; inputs as a dict, or as keyword arguments."""
    service = _Service(url, token)
    payload = {"inputs": {**(inputs or {}), **named_inputs}, "response": "document"}
    response = service.request(
        "POST", f"processes/{process_id}/execution", json=payload, headers={"Prefer": "respond-async"}
    )
    location = response.headers.get("Location", "")
    job_id = location.rstrip("/").rsplit("/", 1)[-1] if location else response.json().get("jobID")
    if not job_id:
        raise ProcessServiceError(f"the service accepted {process_id} but named no job", status=response.status_code)
    return ProcessJob(service, str(job_id), process_id)


class ProcessJob:
    """A submitted job: its status, progress, result; ``dismiss()`` cancels it."""

    def __init__(self, service: _Service, job_id: str, process_id: str) -> None:
        self._service = service
        self.id = job_id
        self.process_id = process_id

    def __repr__(self) -> str:
        return f"ProcessJob({self.process_id!r}, id={self.id!r})"

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = self._service.request("GET", f"jobs/{self.id}?f=json").json()
        return info

    @property
    def progress(self) -> int:
        return int(self.status().get("progress") or 0)

    def wait(self, timeout: float | None = None, *, progress_bar: bool = True) -> dict[str, Any]:
        """Poll until the job ends (a progress bar meanwhile); its final status. ProcessServiceError if it failed."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, desc=f"{self.process_id} {self.id[:8]}", disable=not progress_bar, unit="%")
        try:
            while True:
                info = self.status()
                bar.n = int(info.get("progress") or 0)
                bar.set_postfix_str(str(info.get("message", ""))[:60], refresh=True)
                if info.get("status") in ("successful", "failed", "dismissed"):
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise ProcessServiceError(
                        f"job {self.id} still {info.get('status')} after {timeout} s", job_id=self.id
                    )
                time.sleep(POLL_SECONDS)
        finally:
            bar.close()
        if info.get("status") != "successful":
            raise ProcessServiceError(
                f"job {self.id} ({self.process_id}) {info.get('status')}: {info.get('message')}", job_id=self.id
            )
        return info

    def item(self, timeout: float | None = None) -> dict[str, Any]:
        """The STAC item of the result (waits for the job)."""
        self.wait(timeout, progress_bar=False)
        document: dict[str, Any] = self._service.request("GET", f"jobs/{self.id}/results?f=json").json()
        return dict(document["result"])

    def result(self, timeout: float | None = None) -> Any:
        """The output opened: a lazy cube (Zarr, COG, NetCDF: an xarray Dataset) or a table (GeoParquet: a
        GeoDataFrame; CSV: a GeoDataFrame of points when it has longitude/latitude, else a DataFrame).

        Where the user's space is readable (a platform session), the result is opened as its entry of the user's
        catalogue (``user-results/results/<job id>``), as ``gl.open_catalog()`` would; elsewhere it is read through
        the service."""
        item = self.item(timeout)
        asset = next(iter(item["assets"].values()))
        media = str(asset.get("type", ""))
        local_file = asset.get("alternate", {}).get("local", {}).get("href")
        local_item = next((link["href"] for link in item.get("links", []) if link.get("rel") == "via"), None)
        if local_file and local_item and os.access(str(local_file), os.R_OK) and os.access(local_item, os.R_OK):
            entry = _user_entry(Path(local_item), self.id)
            return entry.to_geopandas() if _is_table(media) else entry.to_xarray()
        if _is_table(media):
            return _read_table(self._download(str(asset["href"])), media)
        return self._open_remote(str(asset["href"]), media)

    def _download(self, href: str) -> Path:
        target = Path(tempfile.mkdtemp(prefix=f"gaia-lab-{self.id[:8]}-")) / Path(href).name
        target.write_bytes(self._service.request("GET", href[len(self._service.url) :]).content)
        return target

    def _open_remote(self, href: str, media: str) -> Any:
        """Read an output through the service (this machine cannot see the user's space)."""
        import xarray as xr

        if "zarr" in media:
            headers = dict(self._service.session.headers)
            return xr.open_zarr(href, storage_options={"headers": headers}, consolidated=False)
        target = self._download(href)
        if "tiff" in media:
            import rioxarray

            return rioxarray.open_rasterio(target, chunks={})
        return xr.open_dataset(target, chunks={})

    def dismiss(self) -> dict[str, Any]:
        """Cancel the job (its Dask work stops) and delete its outputs."""
        info: dict[str, Any] = self._service.request("DELETE", f"jobs/{self.id}").json()
        return info


def _user_entry(item_path: Path, job_id: str) -> Any:
    """The job's result as an entry of the user's catalogue, whose root holds ``<job id>/item.json``."""
    from gaia_lab.catalog import open_catalog
    from gaia_lab.catalog.user_results import provider_config
    from gaia_lab.ogc_processes.user_catalog import entry_id

    config = provider_config(item_path.parent.parent)
    if config is None:
        raise ProcessServiceError(f"job {job_id}: no results catalogue next to {item_path}", job_id=job_id)
    return open_catalog({"providers": [config]})[entry_id(job_id)]


def _is_table(media: str) -> bool:
    return "csv" in media or "parquet" in media


def _read_table(path: Path, media: str) -> Any:
    if "csv" in media:
        from gaia_lab.cube.vector import read_csv_table

        return read_csv_table(str(path))
    import geopandas as gpd

    return gpd.read_parquet(path)
