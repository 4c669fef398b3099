"""What spiders yield besides `yuqing.model.Mention`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rejected:
    """A post the spider found but could not turn into a valid Mention (e.g. an unreadable date).
    ValidatePipeline writes it to DATA_DIR/rejects/ so nothing disappears silently."""

    url: str
    source: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)
