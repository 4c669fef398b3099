"""What spiders yield: `yuqing.model.Mention`, or `yuqing.model.Rejected` when a post cannot become one."""
from __future__ import annotations

from yuqing.model import Mention, Rejected

__all__ = ["Mention", "Rejected"]
