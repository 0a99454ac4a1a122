"""s3fs configured from a credentials reference (``gaia_lab.credentials``) resolved where it is used.

fsspec pickles a filesystem as its constructor arguments, and an open file as its filesystem and path: a dask graph
holding either holds the reference only, and each worker builds its own from the credentials its worker plugin
registered. Reads of its files that S3 refuses raise AssetError naming the bucket and the provider."""

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

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        opened = super()._open(path, mode, **kwargs)
        if type(opened) is s3fs.S3File:
            # s3fs builds its S3File by name; the subclass only adds error translation to its reads
            opened.__class__ = CredentialedS3File
        return opened


class CredentialedS3File(s3fs.S3File):  # type: ignore[misc]
    """An s3fs file whose refused reads are AssetErrors naming bucket and provider (without the secret)."""

    def _fetch_range(self, start: int, end: int) -> Any:
        try:
            return super()._fetch_range(start, end)
        except Exception as error:
            from gaia_lab.cube.s3 import translate

            failure = translate(error, f"s3://{self.path}", self.fs.gaia_credentials)
            if failure is None:
                raise
        # Raised outside the handler: dask's workers pickle exceptions with their context, which need not unpickle
        raise failure
