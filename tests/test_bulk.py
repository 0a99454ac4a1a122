"""Bulk helpers: pages fetched ahead of the caller."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gaia_lab.bulk import prefetched


def _wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_prefetched_yields_every_page_in_order():
    assert list(prefetched(iter(range(10)), ahead=2)) == list(range(10))
    assert list(prefetched(iter([]))) == []


def test_the_next_page_is_asked_for_while_the_caller_handles_one():
    asked: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(3):
            asked.append(n)
            yield n

    it = prefetched(pages())
    assert next(it) == 0
    assert _wait_for(lambda: len(asked) == 3)  # without the caller asking for page 1
    assert list(it) == [1, 2]


def test_an_error_of_the_pages_reaches_the_caller_after_the_pages_before_it():
    def pages() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 is broken")

    it = prefetched(pages())
    assert next(it) == 1
    with pytest.raises(ValueError, match="page 2 is broken"):
        next(it)


def test_a_caller_that_stops_early_stops_the_fetching():
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(1000):
            fetched.append(n)
            yield n

    it = prefetched(pages(), ahead=2)
    assert next(it) == 0
    it.close()
    time.sleep(0.3)
    settled = len(fetched)
    time.sleep(0.3)
    assert len(fetched) == settled < 10


def test_what_a_paused_block_keeps_waits_for_a_full_collection():
    import gc

    from gaia_lab.bulk import paused_gc

    with paused_gc():
        assert not gc.isenabled()
        kept = [[n] for n in range(50_000)]
    assert gc.isenabled()
    # The first young collection after the block would otherwise walk all 50,000 lists.
    young = {id(o) for o in gc.get_objects(generation=0)}
    assert not any(id(item) in young for item in kept[::1000])
    assert any(item is kept[-1] for item in gc.get_objects(generation=2))


def test_objects_the_process_froze_stay_frozen():
    import gc

    from gaia_lab.bulk import paused_gc

    # Other threads of a test session free frozen objects at any time, so the freeze count is no witness:
    # frozen objects are the ones no generation lists.
    sentinel = [["frozen by the process"]]
    gc.freeze()
    try:
        with paused_gc():
            [[n] for n in range(1000)]
        listed = {id(o) for generation in range(3) for o in gc.get_objects(generation=generation)}
        assert id(sentinel) not in listed
    finally:
        gc.unfreeze()
    assert any(o is sentinel for o in gc.get_objects())
