"""Child process for the crash test: appends a stream to a ledger, acknowledging each.

    python crash_writer.py DB SEED COUNT

Prints ``start N`` (events already in the journal), then ``ack I`` after
event I is recorded; the parent SIGKILLs it at a moment of its choosing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from streams import make_stream

from vision_core.ledger.ledger import Ledger


def main() -> None:
    db, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stream = make_stream(seed, count)
    with Ledger.open(db) as ledger:
        start = ledger.journal.last_seq
        print(f"start {start}", flush=True)
        for index in range(start, count):
            ledger.apply(stream.events[index])
            print(f"ack {index}", flush=True)


if __name__ == "__main__":
    main()
