"""Reposts and near-duplicates grouped (`yuqing.groups`): the real MinHash signatures of the analyse
stage, a real SQLite index file, several real processes writing it at once, and the one ingest path
into a real store."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nlp.clusters import signature
from tests.test_ingest import JINCHENG, post, services
from yuqing.groups import Groups
from yuqing.model import Mention

COMPLAINT = "锦程银行信用卡中心外包催收每天打电话骚扰我的家人和同事，投诉到客服也没人处理，太过分了！"
OTHER_COMPLAINT = "锦程银行理财经理私自替我做风险测评，买的产品亏损后就不认账，网点推来推去。"
WIRE = "据悉，{bank}因贷款管理不审慎、员工行为管理不到位被银保监分局罚款50万元，相关负责人被警告。"


def mention(i: int, text: str, institutions: tuple[str, ...] = ("锦程银行",), **kw: str) -> Mention:
    m = Mention(url=f"https://weibo.com/u/{i}", source="weibo", content=text,
                published_at=datetime.now(timezone.utc), platform="weibo", platform_id=str(i), **kw)
    m.institutions = list(institutions)
    return m


@pytest.fixture
def groups(tmp_path):
    g = Groups(tmp_path / "groups.db", signature)
    yield g
    g.close()


def test_a_copy_with_small_edits_joins_the_first_seen_and_a_different_complaint_does_not(groups):
    first, copy = mention(1, COMPLAINT), mention(2, "急！" + COMPLAINT.replace("太过分了", "太过份了") + "求扩散")
    other = mention(3, OTHER_COMPLAINT)
    groups.group([first])
    groups.group([copy, other])
    assert (first.group_id, copy.group_id, other.group_id) == (first.id, first.id, other.id)


def test_a_repost_joins_its_originals_group_whichever_comes_first(groups):
    original = mention(10, COMPLAINT)
    chain = mention(11, f"转发微博//@维权小李://@受害者联盟:{COMPLAINT}")
    repost = mention(12, "转发微博", repost_of=original.id)  # no words of its own: only repost_of links it
    groups.group([repost])
    assert repost.group_id == original.id
    groups.group([original, chain])
    assert original.group_id == original.id and chain.group_id == original.id


def test_the_same_wire_story_about_two_banks_is_two_stories(groups):
    ours, theirs = mention(20, WIRE.format(bank="锦程银行")), mention(21, WIRE.format(bank="华岳银行"), ("华岳银行",))
    groups.group([ours, theirs])
    assert ours.group_id == ours.id and theirs.group_id == theirs.id


def test_short_texts_are_never_called_copies(groups):
    a, b = mention(30, "转发微博"), mention(31, "转发微博")
    groups.group([a, b])
    assert (a.group_id, b.group_id) == (a.id, b.id)


def test_groups_survive_the_process_and_a_mention_seen_again_keeps_its_group(tmp_path):
    path = tmp_path / "groups.db"
    first, copy = mention(40, COMPLAINT), mention(41, COMPLAINT + "！！")
    g = Groups(path, signature)
    g.group([first])
    g.close()
    g = Groups(path, signature)  # a new crawl child opens the same file
    g.group([copy])
    again = mention(41, "这条微博的内容后来被作者改了，和原来完全不同")  # same post id, edited text
    g.group([again])
    g.close()
    assert copy.group_id == first.id and again.group_id == first.id


def test_signatures_older_than_the_window_are_forgotten(tmp_path):
    g = Groups(tmp_path / "groups.db", signature, window=timedelta(days=7))
    start = datetime.now(timezone.utc)
    first, late = mention(50, COMPLAINT), mention(51, COMPLAINT + "。")
    g.group([first], now=start - timedelta(days=8))
    g.group([late], now=start)
    (rows,) = g._open().execute("SELECT COUNT(*) FROM bands WHERE id = ?", (first.id,)).fetchone()
    g.close()
    assert late.group_id == late.id and rows == 0


WRITER = """
import sys, time
from pathlib import Path
from nlp.clusters import signature
from tests.test_groups import COMPLAINT, mention
from yuqing.groups import Groups
path, number, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
m = mention(100 + number, COMPLAINT + "!" * number)
g = Groups(path, signature)
g._open()
while not go.exists():
    time.sleep(0.01)
g.group([m])
print(m.group_id)
"""


def test_copies_arriving_at_once_in_several_processes_get_one_group(tmp_path):
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "groups.db"), str(n), str(go)],
                                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
               for n in range(1, 5)]
    go.touch()
    outputs = [w.communicate(timeout=300)[0].strip() for w in writers]
    assert all(w.returncode == 0 for w in writers)
    assert len(set(outputs)) == 1 and outputs[0] in {mention(100 + n, "").id for n in range(1, 5)}


def test_every_way_in_stores_the_group(tmp_path):
    with services(tmp_path, institutions=(JINCHENG,)) as svc:
        report = svc.ingest.ingest([post(1, COMPLAINT), post(2, "转发：" + COMPLAINT), post(3, OTHER_COMPLAINT)],
                                   "news")
        assert report.stored == 3
        stored = [svc.store.get(post(i, "x").id) for i in (1, 2, 3)]
    assert [m.group_id for m in stored if m] == [post(1, "x").id, post(1, "x").id, post(3, "x").id]


def test_a_broken_index_loses_no_mention(tmp_path):
    with services(tmp_path, institutions=(JINCHENG,)) as svc:
        svc.data.groups_db.mkdir(parents=True)  # a directory where the file should be
        report = svc.ingest.ingest([post(1, COMPLAINT), post(2, COMPLAINT)], "news")
        assert report.stored == 2 and report.group_failed == 2
        assert any("grouping failed" in p and "groups.db" in p for p in report.problems)
        assert svc.store.get(post(2, "x").id).group_id == post(2, "x").id
