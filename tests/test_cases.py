"""Case handling and its response-time KPIs, on a real SQLite alert store."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from yuqing.alertstore.sqlite import SqliteAlertStore
from yuqing.cases import CaseError, add_working_days, deadlines, open_case, overdue, response_kpis, update_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
WED = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # a Wednesday


@pytest.fixture
def store(tmp_path):
    s = SqliteAlertStore(tmp_path / "yuqing.db")
    yield s
    s.close()


@pytest.mark.parametrize("start, days, expected", [
    (WED, 5, datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)),  # Wed → next Wed, over one weekend
    (WED, 2, datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI)),  # Fri
    (WED, 3, datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)),  # Mon: the weekend does not count
    (datetime(2026, 12, 4, 18, 0, tzinfo=SHANGHAI), 1, datetime(2026, 12, 7, 18, 0, tzinfo=SHANGHAI)),  # Fri → Mon
    # opened on Saturday: the count starts on Monday 00:00, so five whole working days
    (datetime(2026, 12, 5, 15, 0, tzinfo=SHANGHAI), 5, datetime(2026, 12, 14, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 12, 6, 23, 0, tzinfo=SHANGHAI), 1, datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI)),  # Sunday
])
def test_working_days_skip_the_weekend(start, days, expected):
    assert add_working_days(start, days) == expected


def test_a_case_is_accepted_answered_and_closed_with_who_and_when(store):
    case = open_case(store, "m1", "暴力催收", "锦程银行", "analyst", WED, handler="handler1")
    assert (case.status, case.handler, case.accepted_at) == ("open", "handler1", None)
    assert deadlines(case) == (WED + timedelta(hours=48), datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI))
    with pytest.raises(CaseError, match="already has case"):
        open_case(store, "m1", "", "锦程银行", "analyst", WED)

    t1, t2, t3 = WED + timedelta(hours=5), WED + timedelta(days=2), WED + timedelta(days=3)
    case = update_case(store, case.id, "handler1", t1, status="in_progress")
    assert case.accepted_at == t1 and case.answered_at is None
    with pytest.raises(CaseError, match="note the response"):
        update_case(store, case.id, "handler1", t2, status="answered")
    case = update_case(store, case.id, "handler1", t2, status="answered", response="已致电客户，停止第三方催收")
    assert case.answered_at == t2 and case.response == "已致电客户，停止第三方催收"
    case = update_case(store, case.id, "analyst", t3, status="in_progress")  # reopened
    case = update_case(store, case.id, "analyst", t3 + timedelta(hours=1), status="closed")
    assert (case.accepted_at, case.answered_at) == (t1, t2)  # first times kept
    assert [(e.by, e.action, e.value) for e in case.history] == [
        ("analyst", "opened", ""), ("analyst", "assigned", "handler1"), ("handler1", "status", "in_progress"),
        ("handler1", "response", "已致电客户，停止第三方催收"), ("handler1", "status", "answered"),
        ("analyst", "status", "in_progress"), ("analyst", "status", "closed")]
    with pytest.raises(CaseError, match="nothing to change"):
        update_case(store, case.id, "analyst", t3, status="closed")
    with pytest.raises(CaseError, match="'done' is not one of"):
        update_case(store, case.id, "analyst", t3, status="done")
    with pytest.raises(CaseError, match="no case"):
        update_case(store, "nope", "analyst", t3, status="closed")
    assert open_case(store, "m1", "", "锦程银行", "analyst", t3).status == "open"  # the old one is closed


def test_response_kpis_count_what_is_due_and_list_what_is_overdue(store):
    now = datetime(2026, 12, 14, 12, 0, tzinfo=SHANGHAI)  # Monday
    # accepted after 1 h and answered after 2 days: both in time
    fast = open_case(store, "a", "", "锦程银行", "x", now - timedelta(days=12))
    update_case(store, fast.id, "x", fast.opened_at + timedelta(hours=1), status="in_progress")
    update_case(store, fast.id, "x", fast.opened_at + timedelta(days=2), status="answered", response="ok")
    # accepted after 3 days (late), never answered, opened 12 days ago: overdue for its answer
    late = open_case(store, "b", "", "锦程银行", "x", now - timedelta(days=12, hours=1))
    update_case(store, late.id, "x", late.opened_at + timedelta(days=3), status="in_progress")
    # opened an hour ago: nothing due yet
    fresh = open_case(store, "c", "", "锦程银行", "x", now - timedelta(hours=1))
    # opened three days ago and never touched: overdue for acceptance, its answer not yet due (Wed 10 Dec 12:00)
    idle = open_case(store, "d", "", "锦程银行", "x", datetime(2026, 12, 11, 12, 0, tzinfo=SHANGHAI))
    # closed unanswered: no answer was needed
    dropped = open_case(store, "e", "", "锦程银行", "x", now - timedelta(days=10))
    update_case(store, dropped.id, "x", dropped.opened_at + timedelta(hours=2), status="closed")

    cases = [store.get_case(c.id) for c in (fast, late, fresh, idle, dropped)]
    kpis = response_kpis(cases, now)
    assert (kpis.cases, kpis.accept_due, kpis.accepted_in_time) == (5, 4, 2)  # fast, dropped in time; late, idle not
    assert (kpis.answer_due, kpis.answered_in_time) == (2, 1)  # fast in time; late overdue
    assert kpis.accepted_share == 0.5 and kpis.answered_share == 0.5
    assert [(c.mention_id, missed) for c, missed in kpis.overdue] == [("b", ["answer"]), ("d", ["accept"])]
    assert overdue(store.get_case(fresh.id), now) == [] and overdue(store.get_case(dropped.id), now) == []
    assert kpis.to_dict()["overdue"][0]["missed"] == ["answer"]
    empty = response_kpis([], now)
    assert empty.accepted_share is None and empty.answered_share is None
