"""The digest's charts: one institution's mentions per day (or hour) stacked by polarity, as PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot global state, safe in scheduler
threads). Chinese labels need a CJK font: the first one found among common families (Debian:
`fonts-wqy-microhei` or `fonts-noto-cjk`) is used; with none, the chart is labelled in English
(the email names the institution above it either way).
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

log = logging.getLogger("yuqing.alerts")

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback", "AR PL UMing CN")
# font files worth registering when matplotlib's cache predates the font's installation
_CJK_FILE = re.compile(r"(wqy|NotoSansCJK|NotoSerifCJK|SourceHan|simhei|msyh|DroidSansFallback|uming)", re.IGNORECASE)


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


# polarity → (Chinese label, English label without a CJK font, colour); drawn bottom-up in this order
POLARITY_STYLE = {"negative": ("负面", "negative", "#c62828"), "neutral": ("中性", "neutral", "#9e9e9e"),
                  "positive": ("正面", "positive", "#2e7d32"), "other": ("未分析", "not analysed", "#cfd8dc")}


def polarity_chart(ticks: Sequence[str], series: Mapping[str, Sequence[int]], title: str,
                   english_title: str) -> bytes:
    """Mentions per bucket as bars stacked by polarity (negative at the bottom, where it is read
    first). `ticks` label the buckets; without a CJK font the labels and title are English."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = cjk_font()
    fig = Figure(figsize=(7.2, 2.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(ticks)))
    bottom = [0] * len(ticks)
    for polarity, (zh, en, colour) in POLARITY_STYLE.items():
        counts = list(series.get(polarity, ()))
        if not counts:
            continue
        ax.bar(x, counts, bottom=bottom, color=colour, width=0.75, label=zh if font else en)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    step = max(1, len(ticks) // 12)  # 24 hours: every other label, or they overlap
    ax.set_xticks(x[::step], [t if font else t.split("\n")[0] for t in ticks[::step]], fontfamily=font, fontsize=8)
    ax.set_title(title if font else english_title, fontfamily=font, fontsize=10)
    ax.set_ylim(bottom=0, top=max(max(bottom, default=0), 1) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", ncols=4, frameon=False, prop={"size": 8, "family": font})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
