"""A gate event the ledger refuses (an exit bound late to a settled session) is dropped, logged."""

import logging
from pathlib import Path

import pytest

from vision_core.ledger.events import ReceiptSettled

from .scenario import admit, feed_all, leave, store


def test_an_exit_for_a_settled_session_changes_nothing_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, admit("s1", 1.0))
        settled = feed_all(engine, [leave("s1", 5.0)]) + engine.tick(5.0)
        assert [type(m) for m in settled if isinstance(m, ReceiptSettled)] == [ReceiptSettled]
        journal_before = len(list(engine.ledger.journal.replay()))
        with caplog.at_level(logging.WARNING, logger="vision_core.checkout.engine"):
            assert engine.feed(leave("s1", 9.0)) == []
        assert "settled" in caplog.text
        assert len(list(engine.ledger.journal.replay())) == journal_before
        # the checkout goes on for everyone else
        assert feed_all(engine, admit("s2", 10.0))
