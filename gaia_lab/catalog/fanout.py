"""One call per provider, all at once, each within its own timeout: what a federated search (and each page of the
federation's STAC API) does with its members."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import TypeVar

from gaia_lab.catalog.providers import Provider
from gaia_lab.errors import GaiaLabError, ProviderError, ProviderTimeout

T = TypeVar("T")


def per_provider(
    providers: Sequence[Provider], call: Callable[[Provider], T], *, thread_name_prefix: str
) -> tuple[dict[str, T], dict[str, GaiaLabError], dict[str, float]]:
    """``call`` on every provider in threads: the answers, the typed errors (an answer later than the provider's
    timeout is a ``ProviderTimeout``, even if it came), and each provider's seconds to answer or fail."""
    if not providers:
        return {}, {}, {}
    started = time.monotonic()
    finished: dict[str, float] = {}

    def timed(provider: Provider) -> T:
        try:
            return call(provider)
        finally:
            finished[provider.name] = time.monotonic() - started

    executor = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix=thread_name_prefix)
    futures: dict[Future[T], Provider] = {executor.submit(timed, p): p for p in providers}
    try:
        # Each provider has its own deadline; waiting for the longest one bounds the whole call.
        wait_futures(futures, timeout=max(p.timeout for p in providers))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    answers: dict[str, T] = {}
    errors: dict[str, GaiaLabError] = {}
    for future, provider in futures.items():
        elapsed = finished.get(provider.name)
        if not future.done() or elapsed is None or elapsed > provider.timeout:
            errors[provider.name] = ProviderTimeout(
                provider.name, f"no complete answer within its timeout of {provider.timeout:g} s", url=provider.url
            )
            continue
        error = future.exception()
        if isinstance(error, GaiaLabError):
            errors[provider.name] = error
        elif error is not None:
            errors[provider.name] = ProviderError(
                provider.name, f"search failed: {type(error).__name__}: {error}", url=provider.url
            )
        else:
            answers[provider.name] = future.result()
    return answers, errors, finished
