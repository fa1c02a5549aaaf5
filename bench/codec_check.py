"""What the codec's read-back proof costs per append: ``encode`` against ``checked``
(encode, then decode the bytes), per event type, best of a few rounds.

    python -m bench.codec_check

The SQLite log decoded every appended event anyway (for its in-memory tail), so there the
proof only moved the decode before the insert; on Kafka it adds one decode per append.
"""

from __future__ import annotations

import timeit

from hub.events import EVENT_BY_NAME
from infra.avro import default_codec
from tests.unit.test_schemas import sample

TYPES = ("PackageRequested", "ChunkStored", "PackageSealed", "DeliveryNotified")


def main(number: int = 20_000, rounds: int = 5) -> None:
    codec = default_codec()
    for name in TYPES:
        event = sample(EVENT_BY_NAME[name], optionals=True)
        encode = min(timeit.repeat(lambda e=event: codec.encode(e), number=number,
                                   repeat=rounds)) / number * 1e6
        checked = min(timeit.repeat(lambda e=event: codec.checked(e), number=number,
                                    repeat=rounds)) / number * 1e6
        print(f"{name:18} encode {encode:6.1f} µs   checked {checked:6.1f} µs   "
              f"+{checked - encode:5.1f} µs")


if __name__ == "__main__":
    main()
