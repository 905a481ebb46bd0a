"""Realistic sample messages, used by ``check_templates`` to render every template at start-up.

Between them the samples take every branch the templates have: sessions with and without
venue, video link, description, attendance notes and announcement dates; timed and
all-day; confirmed, tentative and cancelled; attendance entries added, changed and
removed; sessions added, moved, cancelled, reinstated, re-housed and re-described.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from summitcal.scheduler.messages import (
    AttendanceItem,
    AttendanceNotice,
    ChangesNotice,
    Confirm,
    Context,
    Reminder,
    ScheduleNotice,
    SessionChange,
    Welcome,
)
from summitcal.summits.model import (
    Attendance,
    AttendanceMode,
    Organization,
    Participant,
    Schedule,
    Session,
    SessionStatus,
    Summit,
)

DUSHANBE = ZoneInfo("Asia/Dushanbe")
ALMATY = ZoneInfo("Asia/Almaty")
READER_ZONE = "Europe/Moscow"
CHANGED = datetime(2021, 9, 14, 9, 0, tzinfo=UTC)

VIDEO = Attendance("putin", AttendanceMode.VIDEO,
                   note="Self-isolation after COVID-19 cases in his entourage",
                   announced=date(2021, 9, 14))
IN_PERSON = Attendance("putin", AttendanceMode.IN_PERSON)

CSTO = Session(
    summit="dushanbe-2021", id="csto-council",
    title="Session of the CSTO Collective Security Council", timezone="Asia/Dushanbe",
    organizations=("csto",), start=datetime(2021, 9, 16, 10, tzinfo=DUSHANBE),
    end=datetime(2021, 9, 16, 13, tzinfo=DUSHANBE), venue="Palace of Nations, Dushanbe",
    description="Heads of state of the CSTO member states meet in narrow and extended format.",
    video_url="https://example.org/live/csto?session=1&lang=en",
    attendance=(VIDEO, Attendance("rahmon", AttendanceMode.IN_PERSON),
                Attendance("modi", AttendanceMode.DELEGATED, delegate="jaishankar")),
    sequence=2, last_modified=CHANGED,
)
SCO = Session(
    summit="dushanbe-2021", id="sco-council", title="SCO Council of Heads of State",
    timezone="Asia/Dushanbe", organizations=("sco",),
    start=datetime(2021, 9, 17, 10, tzinfo=DUSHANBE),
    end=datetime(2021, 9, 17, 13, tzinfo=DUSHANBE),
    attendance=(VIDEO,), sequence=1, last_modified=CHANGED,
)
ASTANA = Session(
    summit="astana-2024", id="sco-council", title="SCO Council of Heads of State",
    timezone="Asia/Almaty", organizations=("sco",), date=date(2024, 7, 3),
    end_date=date(2024, 7, 4), status=SessionStatus.TENTATIVE,
)


def schedule() -> Schedule:
    sessions = (CSTO, SCO, ASTANA)
    return Schedule(
        summits={s.id: s for s in (
            Summit("dushanbe-2021", "CSTO and SCO summits, Dushanbe 2021", "Dushanbe",
                   "Tajikistan", "Asia/Dushanbe"),
            Summit("astana-2024", "SCO summit, Astana 2024", "Astana", "Kazakhstan",
                   "Asia/Almaty"),
        )},
        organizations={o.id: o for o in (
            Organization("sco", "Shanghai Cooperation Organisation"),
            Organization("csto", "Collective Security Treaty Organization"),
        )},
        participants={p.id: p for p in (
            Participant("putin", "Vladimir Putin", "President of Russia"),
            Participant("rahmon", "Emomali Rahmon", "President of Tajikistan"),
            Participant("modi", "Narendra Modi", "Prime Minister of India"),
            Participant("jaishankar", "S. Jaishankar"),
        )},
        sessions={s.key: s for s in sessions},
    )


def contexts(base_url: str) -> list[Context]:
    """Every kind at least once, with full and sparse data."""
    sched = schedule()
    manage = f"{base_url}/manage/sample-token"
    return [
        Confirm(f"{base_url}/subscriptions/confirm/sample-token"),
        Welcome(f"{base_url}/feeds/private/sample-token.ics", manage, READER_ZONE,
                ("summit:dushanbe-2021", "participant:putin", "organization:sco",
                 "session:astana-2024/sco-council", "all"),
                (timedelta(days=1), timedelta(hours=1)), ("attendance", "schedule"), sched),
        Welcome(f"{base_url}/feeds/private/other.ics", manage, "UTC", (), (), (), sched),
        Welcome(f"{base_url}/feeds/private/op.ics", manage, "UTC", ("all",), (), (), sched,
                "operator"),
        Welcome(f"{base_url}/feeds/private/again.ics", manage, "UTC", ("all",), (), (), sched,
                "again"),
        Reminder(CSTO, sched, READER_ZONE, timedelta(hours=1), manage),
        Reminder(ASTANA, sched, "America/New_York", timedelta(days=1), manage),
        Reminder(SCO, sched, READER_ZONE, timedelta(minutes=3), manage, late=True),
        Reminder(ASTANA, sched, "Asia/Almaty", timedelta(hours=1), manage, late=True),
        AttendanceNotice(_attendance_items(), sched, READER_ZONE, manage),
        AttendanceNotice((AttendanceItem(SCO, "putin", IN_PERSON, VIDEO),), sched,
                         READER_ZONE, manage),
        ScheduleNotice(_schedule_items(), sched, READER_ZONE, manage),
        ScheduleNotice((SessionChange(replace(ASTANA, date=date(2024, 7, 2)), ASTANA),),
                       sched, "Asia/Almaty", manage),
        ChangesNotice(AttendanceNotice(_attendance_items()[:1], sched, READER_ZONE, manage),
                      ScheduleNotice(_schedule_items()[:1], sched, READER_ZONE, manage)),
        ChangesNotice(AttendanceNotice(_attendance_items()[1:], sched, READER_ZONE, manage),
                      ScheduleNotice(_schedule_items()[1:], sched, READER_ZONE, manage)),
    ]


def _attendance_items() -> tuple[AttendanceItem, ...]:
    return (
        AttendanceItem(CSTO, "putin", IN_PERSON, VIDEO),
        AttendanceItem(CSTO, "modi", None, CSTO.attendance[2]),
        AttendanceItem(SCO, "rahmon", Attendance("rahmon", AttendanceMode.IN_PERSON), None),
    )


def _schedule_items() -> tuple[SessionChange, ...]:
    earlier = replace(CSTO, start=datetime(2021, 9, 16, 9, tzinfo=DUSHANBE), venue=None,
                      title="CSTO Council", description=None, video_url=None)
    return (
        SessionChange(earlier, CSTO),
        SessionChange(SCO, replace(SCO, status=SessionStatus.CANCELLED)),
        SessionChange(replace(ASTANA, status=SessionStatus.CANCELLED), ASTANA),
        SessionChange(None, SCO),
    )
