"""The one interface every ESL transport offers the fleet layer.

A backend changes what tags show and says, per tag, whether the tag
confirmed it. Each method returns a :class:`TagPushResult` instead of
raising for a tag that did not answer: in a bulk change of a thousand tags a
dead one is a result, not an exception. Errors of the backend itself (broker
or access point unreachable for longer than the wait) end as ``FAILED``
results with the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from devices.esl.model import TagContent, TagMode, TagPushResult


class TagBackend(ABC):
    """A transport that can change what tags show (an AP, a broker)."""

    name: str

    @abstractmethod
    async def push_content(
        self, tag_id: str, content: TagContent, mode: TagMode = TagMode.NORMAL
    ) -> TagPushResult:
        """Show ``content`` in ``mode`` on ``tag_id``; returns once acked, failed or timed out."""

    @abstractmethod
    async def set_mode(self, tag_id: str, mode: TagMode) -> TagPushResult:
        """Switch the tag's mode, keeping its content."""

    @abstractmethod
    async def show_message(self, tag_id: str, text: str, duration_s: float) -> TagPushResult:
        """Show ``text`` on the tag for ``duration_s``, then return to its content.

        Acked when the message is shown; the return to the content is the
        backend's business (the tag times it on MQTT, the driver on an AP).
        """

    @abstractmethod
    def known_tags(self) -> Sequence[str]:
        """Ids of the tags this backend has seen."""
