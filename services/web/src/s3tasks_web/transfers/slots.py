"""How many uploads stream through this process at once."""

from __future__ import annotations

from dataclasses import dataclass

from s3tasks_web.errors import UploadRejected


@dataclass
class UploadSlots:
    """Uploads streaming through this process, at most `capacity` at once. Taken and given
    back on the event loop's thread only, so a plain counter is enough."""

    capacity: int
    taken: int = 0

    def take(self) -> None:
        """One slot, or the visitor is told to come back (503); give it back when done."""
        if self.taken >= self.capacity:
            raise UploadRejected(
                503,
                "Too many uploads are in progress right now. Please try again in a moment.",
                reason="busy",
                close_connection=True,
            )
        self.taken += 1

    def give_back(self) -> None:
        self.taken -= 1
