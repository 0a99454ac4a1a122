"""s3fs configured from a credentials reference (``gaia_lab.credentials``) resolved where it is used.

fsspec pickles a filesystem as its constructor arguments: a dask graph holding this filesystem holds the reference
only, and each worker builds its own from the credentials its worker plugin registered."""

from __future__ import annotations

from typing import Any

import s3fs

from gaia_lab import credentials


class CredentialedS3FileSystem(s3fs.S3FileSystem):  # type: ignore[misc]
    """s3fs, configured from a credentials reference resolved in the process that uses it (pickles as the
    reference)."""

    def __init__(self, *args: Any, gaia_credentials: str, **kwargs: Any) -> None:
        access = credentials.lookup(gaia_credentials)
        self.gaia_credentials = gaia_credentials
        self.gaia_missing = access is None
        # Missing credentials read unsigned rather than with whatever the process environment or ~/.aws holds: a
        # refusal then says that the provider's credentials did not reach this process.
        options = access.s3fs_options() if access is not None else {"anon": True}
        super().__init__(*args, **{**kwargs, **options})

    def __repr__(self) -> str:
        return f"CredentialedS3FileSystem({self.gaia_credentials!r})"
