from collections.abc import Iterator
from pathlib import Path

import pytest

from vision_core.ledger.ledger import Ledger
from vision_core.ledger.settlement import SettlementPolicy


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path) -> Iterator[Ledger]:
    with Ledger.open(db_path, policy=SettlementPolicy(review_after_s=5.0)) as opened:
        yield opened
