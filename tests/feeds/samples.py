"""The interop test set: sessions in awkward zones, and their instants written by hand.

Every expected UTC value below was worked out from the tz rules, not from the code under
test:
* Asia/Dushanbe is UTC+5 all year (no DST).
* Asia/Almaty (Astana) was UTC+6 until 2024-03-01 00:00, then UTC+5: clocks went back
  from 00:00 to 23:00 on 29 February, so 23:00–24:00 that evening happened twice.
* Europe/Madrid: CET (UTC+1), CEST (UTC+2) from 2024-03-31 02:00 → 03:00 until
  2024-10-27 03:00 → 02:00 (02:00–03:00 happens twice).
* America/New_York: EST (UTC−5), EDT (UTC−4) from 2024-03-10 02:00 → 03:00 until
  2024-11-03 02:00 → 01:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from summitcal.summits.model import (
    Attendance,
    Organization,
    Participant,
    Schedule,
    Session,
    Summit,
)

HOST = "cal.example.org"
BASE_URL = f"https://{HOST}"
DUSHANBE = ZoneInfo("Asia/Dushanbe")
ALMATY = ZoneInfo("Asia/Almaty")
MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")

#: When the sample data last changed (the store's last_modified for every session).
CHANGED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
#: The dinner's cancellation.
CANCELLED_AT = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)

# uid → (start, end), UTC instants or dates (all-day: DTEND is the exclusive day after).
EXPECTED: dict[str, tuple[str, str]] = {
    "dushanbe-2021-csto-council": ("2021-09-16T05:00:00Z", "2021-09-16T08:00:00Z"),
    "dushanbe-2021-sco-council": ("2021-09-17T05:00:00Z", "2021-09-17T08:00:00Z"),
    "dushanbe-2021-arrivals": ("2021-09-15", "2021-09-17"),
    "astana-2024-preparatory": ("2024-02-20T04:00:00Z", "2024-02-20T05:00:00Z"),
    "astana-2024-night-shift": ("2024-02-29T16:00:00Z", "2024-02-29T20:00:00Z"),
    "astana-2024-first-2330": ("2024-02-29T17:30:00Z", "2024-02-29T19:15:00Z"),
    "astana-2024-second-2330": ("2024-02-29T18:30:00Z", "2024-02-29T19:30:00Z"),
    "astana-2024-sco-plus": ("2024-07-03T05:00:00Z", "2024-07-03T07:00:00Z"),
    "astana-2024-sco-council": ("2024-07-04T05:00:00Z", "2024-07-04T08:00:00Z"),
    "astana-2024-dinner": ("2024-07-03T14:00:00Z", "2024-07-03T16:00:00Z"),
    "astana-2024-summit-days": ("2024-07-03", "2024-07-05"),
    "madrid-2024-before-spring": ("2024-03-30T09:00:00Z", "2024-03-30T10:00:00Z"),
    "madrid-2024-across-spring": ("2024-03-30T22:00:00Z", "2024-03-31T02:00:00Z"),
    "madrid-2024-after-gap": ("2024-03-31T01:30:00Z", "2024-03-31T02:00:00Z"),
    "madrid-2024-after-spring": ("2024-04-01T08:00:00Z", "2024-04-01T09:00:00Z"),
    "madrid-2024-before-autumn": ("2024-10-26T08:00:00Z", "2024-10-26T09:00:00Z"),
    "madrid-2024-first-0230": ("2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"),
    "madrid-2024-second-0230": ("2024-10-27T01:30:00Z", "2024-10-27T02:30:00Z"),
    "madrid-2024-after-autumn": ("2024-10-28T09:00:00Z", "2024-10-28T10:00:00Z"),
    "madrid-2024-open-ended": ("2024-10-28T14:00:00Z", "2024-10-28T14:00:00Z"),
    "madrid-2024-new-year": ("2024-12-31", "2025-01-02"),
    "madrid-2024-two-winters-ago": ("2022-11-15T09:00:00Z", "2022-11-15T10:00:00Z"),
    "madrid-2024-next-summer": ("2025-07-01T08:00:00Z", "2025-07-01T09:00:00Z"),
    "madrid-2024-summer-2023": ("2023-07-01T08:00:00Z", "2023-07-01T09:00:00Z"),
    "new-york-2024-general-debate": ("2024-09-24T13:00:00Z", "2024-09-24T16:00:00Z"),
    "new-york-2024-after-spring": ("2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z"),
    "new-york-2024-winter": ("2024-12-02T15:00:00Z", "2024-12-02T17:00:00Z"),
}


def full_uid(short: str) -> str:
    return f"{short}@{HOST}"


def schedule() -> Schedule:
    """Four summits: the two real ones and two made up to cross DST changes."""
    sessions = [*_dushanbe(), *_astana(), *_madrid(), *_new_york()]
    return Schedule(
        summits={s.id: s for s in SUMMITS},
        organizations={o.id: o for o in ORGANIZATIONS},
        participants={p.id: p for p in PARTICIPANTS},
        sessions={s.key: s for s in sessions},
    )


SUMMITS = (
    Summit(
        "dushanbe-2021",
        "CSTO and SCO summits, Dushanbe 2021",
        "Dushanbe",
        "Tajikistan",
        "Asia/Dushanbe",
        ("https://en.wikipedia.org/wiki/2021_SCO_summit",),
    ),
    Summit("astana-2024", "SCO summit, Astana 2024", "Astana", "Kazakhstan", "Asia/Almaty"),
    Summit("madrid-2024", "Clock-change test summit", "Madrid", "Spain", "Europe/Madrid"),
    Summit("new-york-2024", "UN week", "New York", "United States", "America/New_York"),
)
ORGANIZATIONS = (
    Organization("sco", "Shanghai Cooperation Organisation"),
    Organization("csto", "Collective Security Treaty Organization"),
    Organization("un", "United Nations"),
)
PARTICIPANTS = (
    Participant("putin", "Vladimir Putin", "President of Russia"),
    Participant("rahmon", "Emomali Rahmon", "President of Tajikistan"),
    Participant("modi", "Narendra Modi", "Prime Minister of India"),
    Participant("jaishankar", "S. Jaishankar", "Minister of External Affairs of India"),
)


def _timed(
    summit: str, ident: str, zone: ZoneInfo, start: datetime, end: datetime | None, **extra: object
) -> Session:
    return Session(
        summit=summit,
        id=ident,
        title=extra.pop("title", ident.replace("-", " ").capitalize()),  # type: ignore[arg-type]
        timezone=zone.key,
        start=start.replace(tzinfo=zone),
        end=end.replace(tzinfo=zone) if end is not None else None,
        sequence=1,
        last_modified=CHANGED,
        **extra,  # type: ignore[arg-type]
    )


def _all_day(
    summit: str, ident: str, zone: ZoneInfo, first: date, last: date, **extra: object
) -> Session:
    return Session(
        summit=summit,
        id=ident,
        title=ident.replace("-", " ").capitalize(),
        timezone=zone.key,
        date=first,
        end_date=last,
        sequence=1,
        last_modified=CHANGED,
        **extra,  # type: ignore[arg-type]
    )


def _dushanbe() -> list[Session]:
    d = "dushanbe-2021"
    video = Attendance(
        "putin",
        "video",
        note="Self-isolation after COVID-19 cases in his entourage",
        announced=date(2021, 9, 14),
    )
    return [
        _timed(
            d,
            "csto-council",
            DUSHANBE,
            datetime(2021, 9, 16, 10),
            datetime(2021, 9, 16, 13),
            title="Session of the CSTO Collective Security Council",
            organizations=("csto",),
            attendance=(video,),
            video_url="https://example.org/live/csto?session=1&lang=en",
        ),
        _timed(
            d,
            "sco-council",
            DUSHANBE,
            datetime(2021, 9, 17, 10),
            datetime(2021, 9, 17, 13),
            title="SCO Council of Heads of State",
            organizations=("sco",),
            venue="Palace of Nations, Dushanbe",
            attendance=(video, Attendance("rahmon", "in_person")),
        ),
        _all_day(d, "arrivals", DUSHANBE, date(2021, 9, 15), date(2021, 9, 16)),
    ]


def _astana() -> list[Session]:
    a = "astana-2024"
    first_2330 = datetime(2024, 2, 29, 23, 30, fold=0)
    second_2330 = datetime(2024, 2, 29, 23, 30, fold=1)
    return [
        _timed(a, "preparatory", ALMATY, datetime(2024, 2, 20, 10), datetime(2024, 2, 20, 11)),
        # 22:00 (+06) to 01:00 (+05), across the change of standard offset.
        _timed(a, "night-shift", ALMATY, datetime(2024, 2, 29, 22), datetime(2024, 3, 1, 1)),
        # 23:30 occurs twice on 29 Feb: +06 (fold=0), then +05 (fold=1).
        _timed(a, "first-2330", ALMATY, first_2330, datetime(2024, 3, 1, 0, 15)),
        _timed(a, "second-2330", ALMATY, second_2330, datetime(2024, 3, 1, 0, 30)),
        _timed(
            a,
            "sco-plus",
            ALMATY,
            datetime(2024, 7, 3, 10),
            datetime(2024, 7, 3, 12),
            title="SCO Plus meeting",
            organizations=("sco",),
            attendance=(Attendance("putin", "in_person"),),
        ),
        _timed(
            a,
            "sco-council",
            ALMATY,
            datetime(2024, 7, 4, 10),
            datetime(2024, 7, 4, 13),
            title="SCO Council of Heads of State",
            organizations=("sco",),
            venue="Palace of Independence, Astana",
            attendance=(
                Attendance("putin", "in_person"),
                Attendance(
                    "modi",
                    "delegated",
                    delegate="jaishankar",
                    note="Parliament in session",
                    announced=date(2024, 6, 28),
                ),
            ),
        ),
        _timed(
            a,
            "dinner",
            ALMATY,
            datetime(2024, 7, 3, 19),
            datetime(2024, 7, 3, 21),
            title="Official dinner",
            status="cancelled",
            cancelled_at=CANCELLED_AT,
            attendance=(Attendance("putin", "unknown"),),
        ),
        _all_day(
            a, "summit-days", ALMATY, date(2024, 7, 3), date(2024, 7, 4), organizations=("sco",)
        ),
    ]


def _madrid() -> list[Session]:
    m = "madrid-2024"
    return [
        _timed(m, "before-spring", MADRID, datetime(2024, 3, 30, 10), datetime(2024, 3, 30, 11)),
        _timed(m, "across-spring", MADRID, datetime(2024, 3, 30, 23), datetime(2024, 3, 31, 4)),
        _timed(m, "after-gap", MADRID, datetime(2024, 3, 31, 3, 30), datetime(2024, 3, 31, 4)),
        _timed(m, "after-spring", MADRID, datetime(2024, 4, 1, 10), datetime(2024, 4, 1, 11)),
        _timed(m, "before-autumn", MADRID, datetime(2024, 10, 26, 10), datetime(2024, 10, 26, 11)),
        _timed(
            m,
            "first-0230",
            MADRID,
            datetime(2024, 10, 27, 2, 30, fold=0),
            datetime(2024, 10, 27, 2, 30, fold=1),
        ),
        _timed(
            m,
            "second-0230",
            MADRID,
            datetime(2024, 10, 27, 2, 30, fold=1),
            datetime(2024, 10, 27, 3, 30),
        ),
        _timed(
            m,
            "after-autumn",
            MADRID,
            datetime(2024, 10, 28, 10),
            datetime(2024, 10, 28, 11),
            attendance=(Attendance("putin", "absent"),),
        ),
        _timed(m, "open-ended", MADRID, datetime(2024, 10, 28, 15), None),
        _all_day(m, "new-year", MADRID, date(2024, 12, 31), date(2025, 1, 1)),
        # These stretch Madrid's VTIMEZONE over three summers. Summer 2023 lies between
        # the first and second daylight-time onsets, which ical.js read an hour late when
        # an observance had DTSTART plus RDATEs (../shared/cases/madrid-two-summers.toml).
        _timed(
            m, "two-winters-ago", MADRID, datetime(2022, 11, 15, 10), datetime(2022, 11, 15, 11)
        ),
        _timed(m, "summer-2023", MADRID, datetime(2023, 7, 1, 10), datetime(2023, 7, 1, 11)),
        _timed(m, "next-summer", MADRID, datetime(2025, 7, 1, 10), datetime(2025, 7, 1, 11)),
    ]


def _new_york() -> list[Session]:
    n = "new-york-2024"
    return [
        _timed(
            n,
            "general-debate",
            NEW_YORK,
            datetime(2024, 9, 24, 9),
            datetime(2024, 9, 24, 12),
            organizations=("un",),
            video_url="https://webtv.un.org/en/live",
            attendance=(Attendance("modi", "in_person"),),
        ),
        _timed(n, "after-spring", NEW_YORK, datetime(2024, 3, 10, 3), datetime(2024, 3, 10, 4)),
        _timed(n, "winter", NEW_YORK, datetime(2024, 12, 2, 10), datetime(2024, 12, 2, 12)),
    ]
