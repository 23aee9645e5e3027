"""prefetch(): same items, same order, producer errors surface in the consumer."""

from __future__ import annotations

import threading

import pytest

from ingestion.streams import prefetch


def test_items_arrive_in_order_and_are_produced_off_the_calling_thread() -> None:
    producers: set[str] = set()

    def items():
        for i in range(50):
            producers.add(threading.current_thread().name)
            yield i

    assert list(prefetch(items())) == list(range(50))
    assert producers == {"prefetch"}


def test_a_producer_error_is_raised_where_its_item_would_be() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("garbled file")

    got = []
    with pytest.raises(ValueError, match="garbled file"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]


def test_abandoning_the_consumer_stops_the_producer() -> None:
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert len(produced) < 10
