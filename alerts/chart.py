"""The digest's chart: daily negative mentions per institution, as PNG bytes.

Drawn with matplotlib's object API on the Agg canvas (no pyplot global state, safe in scheduler
threads). Chinese labels need a CJK font: the first one found among common families (Debian:
`fonts-wqy-microhei` or `fonts-noto-cjk`) is used; with none, series are labelled #1, #2, ...
and the email's legend table says which is which.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache

log = logging.getLogger("yuqing.alerts")

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback", "AR PL UMing CN")
# font files worth registering when matplotlib's cache predates the font's installation
_CJK_FILE = re.compile(r"(wqy|NotoSansCJK|NotoSerifCJK|SourceHan|simhei|msyh|DroidSansFallback|uming)", re.IGNORECASE)
WEEKDAYS = "一二三四五六日"


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font family that can draw Chinese, or None."""
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found is None:
        for path in font_manager.findSystemFonts():
            if _CJK_FILE.search(path):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = known()
    if found is None:
        log.warning("no CJK font found (install fonts-wqy-microhei or fonts-noto-cjk); chart labels use #1, #2, ...")
    return found


def series_labels(names: Sequence[str]) -> list[str]:
    """What the chart calls each series: the name when Chinese can be drawn, else #n."""
    return list(names) if cjk_font() else [f"#{i}" for i in range(1, len(names) + 1)]


def daily_chart(days: Sequence[date], series: Mapping[str, Sequence[int]], title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = cjk_font()
    fig = Figure(figsize=(7.5, 3.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(days)))
    for label, counts in zip(series_labels(list(series)), series.values(), strict=True):
        ax.plot(x, counts, marker="o", linewidth=1.8, label=label)
    ticks = [f"{d:%m-%d}\n周{WEEKDAYS[d.weekday()]}" if font else f"{d:%m-%d}\n{d:%a}" for d in days]
    ax.set_xticks(x, ticks, fontfamily=font)
    ax.set_ylabel("负面提及" if font else "negative mentions", fontfamily=font)
    ax.set_title(title if font else "Negative mentions per day", fontfamily=font)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left", ncols=min(4, len(series)), prop={"size": 8, "family": font})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
