"""One session's VEVENT: identifiers, stamps, times, words, conference link, alarms."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from icalendar import Alarm, Event

from summitcal.feeds.event import event_bytes
from summitcal.summits.model import Schedule, Session
from tests.feeds import samples

BASE = samples.BASE_URL


def session(schedule: Schedule, short: str) -> Session:
    """The session whose UID starts with ``short`` ("astana-2024-sco-plus")."""
    [found] = [s for s in schedule.sessions.values() if f"{s.summit}-{s.id}" == short]
    return found


def lines(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def prop(data: bytes, name: str) -> list[str]:
    return [line for line in lines(data) if line.split(":")[0].split(";")[0] == name]


def read(data: bytes) -> Event:
    event = Event.from_ical(data)
    assert isinstance(event, Event)
    return event


def test_uid_sequence_and_stamps(schedule: Schedule) -> None:
    s = replace(
        session(schedule, "dushanbe-2021-sco-council"),
        sequence=7,
        last_modified=datetime(2021, 9, 14, 15, 30, tzinfo=samples.DUSHANBE),
    )
    data = event_bytes(s, schedule, "https://Cal.Example.org:8443/some/path/")
    assert prop(data, "UID") == ["UID:dushanbe-2021-sco-council@cal.example.org"]
    assert prop(data, "SEQUENCE") == ["SEQUENCE:7"]
    assert prop(data, "DTSTAMP") == ["DTSTAMP:20210914T103000Z"]
    assert prop(data, "LAST-MODIFIED") == ["LAST-MODIFIED:20210914T103000Z"]
    assert prop(data, "URL") == [
        "URL:https://Cal.Example.org:8443/some/path/summits/dushanbe-2021#dushanbe-2021-sco-council"
    ]


def test_stamp_without_last_modified_comes_from_the_data(schedule: Schedule) -> None:
    s = replace(session(schedule, "astana-2024-sco-council"), last_modified=None)
    data = event_bytes(s, schedule, BASE)
    # The session's own start (10:00 in Astana), never the time of the request.
    assert prop(data, "DTSTAMP") == ["DTSTAMP:20240704T050000Z"]
    assert event_bytes(s, schedule, BASE) == data


def test_timed_session_has_tzid_times(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "astana-2024-sco-plus"), schedule, BASE)
    assert prop(data, "DTSTART") == ["DTSTART;TZID=Asia/Almaty:20240703T100000"]
    assert prop(data, "DTEND") == ["DTEND;TZID=Asia/Almaty:20240703T120000"]


def test_open_ended_session_has_no_dtend(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "madrid-2024-open-ended"), schedule, BASE)
    assert prop(data, "DTSTART") == ["DTSTART;TZID=Europe/Madrid:20241028T150000"]
    assert prop(data, "DTEND") == []
    assert prop(data, "DURATION") == []


def test_all_day_session_has_dates_with_exclusive_end(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "madrid-2024-new-year"), schedule, BASE)
    assert prop(data, "DTSTART") == ["DTSTART;VALUE=DATE:20241231"]
    assert prop(data, "DTEND") == ["DTEND;VALUE=DATE:20250102"]


def test_repeated_hour_is_written_in_utc(schedule: Schedule) -> None:
    """02:30 on 27 Oct 2024 happens twice in Madrid; a TZID cannot say which."""
    data = event_bytes(session(schedule, "madrid-2024-first-0230"), schedule, BASE)
    assert prop(data, "DTSTART") == ["DTSTART:20241027T003000Z"]
    assert prop(data, "DTEND") == ["DTEND:20241027T013000Z"]
    data = event_bytes(session(schedule, "madrid-2024-second-0230"), schedule, BASE)
    assert prop(data, "DTSTART") == ["DTSTART:20241027T013000Z"]
    assert prop(data, "DTEND") == ["DTEND;TZID=Europe/Madrid:20241027T033000"]


def test_summary_location_status_categories(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "dushanbe-2021-sco-council"), schedule, BASE)
    event = read(data)
    assert event["SUMMARY"] == "SCO Council of Heads of State"
    assert event["LOCATION"] == "Palace of Nations, Dushanbe"
    assert event["STATUS"] == "CONFIRMED"
    assert event.categories == ["Shanghai Cooperation Organisation"]
    assert prop(data, "TRANSP") == ["TRANSP:TRANSPARENT"]


def test_location_falls_back_to_city_and_country(schedule: Schedule) -> None:
    event = read(event_bytes(session(schedule, "astana-2024-sco-plus"), schedule, BASE))
    assert event["LOCATION"] == "Astana, Kazakhstan"


def test_unknown_organisation_shows_its_id(schedule: Schedule) -> None:
    s = replace(session(schedule, "astana-2024-sco-plus"), organizations=("sco", "brics"))
    assert read(event_bytes(s, schedule, BASE)).categories == [
        "Shanghai Cooperation Organisation",
        "brics",
    ]


def test_cancelled_session(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "astana-2024-dinner"), schedule, BASE)
    event = read(data)
    assert event["STATUS"] == "CANCELLED"
    assert event["SUMMARY"] == "Cancelled: Official dinner"
    assert str(event["DESCRIPTION"]).startswith("This session has been cancelled.\n\n")
    assert prop(data, "UID") == ["UID:astana-2024-dinner@cal.example.org"]


def test_tentative_session(schedule: Schedule) -> None:
    s = replace(session(schedule, "astana-2024-sco-plus"), status="tentative")
    event = read(event_bytes(s, schedule, BASE))
    assert event["STATUS"] == "TENTATIVE"
    assert event["SUMMARY"] == "SCO Plus meeting"


@pytest.mark.parametrize(
    ("short", "participant", "summary"),
    [
        ("dushanbe-2021-sco-council", "putin", "SCO Council of Heads of State (Putin: video link)"),
        (
            "dushanbe-2021-sco-council",
            "rahmon",
            "SCO Council of Heads of State (Rahmon: in person)",
        ),
        (
            "astana-2024-sco-council",
            "modi",
            "SCO Council of Heads of State (Modi: delegated to S. Jaishankar)",
        ),
        ("madrid-2024-after-autumn", "putin", "After autumn (Putin: absent)"),
        ("astana-2024-dinner", "putin", "Cancelled: Official dinner (Putin: attendance unknown)"),
        # Not attending this session: no mode to show.
        ("astana-2024-sco-plus", "modi", "SCO Plus meeting"),
    ],
)
def test_participant_feed_summary(
    schedule: Schedule, short: str, participant: str, summary: str
) -> None:
    event = read(event_bytes(session(schedule, short), schedule, BASE, participant=participant))
    assert event["SUMMARY"] == summary


def test_description_lists_text_attendance_video_and_sources(schedule: Schedule) -> None:
    s = replace(
        session(schedule, "dushanbe-2021-csto-council"),
        description="Closed session.\nPress statements afterwards.\n",
    )
    event = read(event_bytes(s, schedule, BASE))
    assert str(event["DESCRIPTION"]) == (
        "Closed session.\nPress statements afterwards.\n\n"
        "Attendance:\n"
        "- Vladimir Putin (President of Russia): video link. Self-isolation after COVID-19 "
        "cases in his entourage (announced 2021-09-14)\n\n"
        "Video link: https://example.org/live/csto?session=1&lang=en\n\n"
        "Sources:\nhttps://en.wikipedia.org/wiki/2021_SCO_summit"
    )


def test_delegation_in_the_attendance_list(schedule: Schedule) -> None:
    event = read(event_bytes(session(schedule, "astana-2024-sco-council"), schedule, BASE))
    assert (
        "- Narendra Modi (Prime Minister of India): delegated to S. Jaishankar. "
        "Parliament in session (announced 2024-06-28)"
    ) in str(event["DESCRIPTION"]).split("\n")


def test_conference_property_for_video_link(schedule: Schedule) -> None:
    data = event_bytes(session(schedule, "new-york-2024-general-debate"), schedule, BASE)
    assert prop(data, "CONFERENCE") == [
        "CONFERENCE;FEATURE=VIDEO;LABEL=Video link;VALUE=URI:https://webtv.un.org/en/live"
    ]
    assert "Video link: https://webtv.un.org/en/live" in str(read(data)["DESCRIPTION"])
    plain = event_bytes(session(schedule, "astana-2024-sco-plus"), schedule, BASE)
    assert prop(plain, "CONFERENCE") == []


def test_alarms_one_per_offset(schedule: Schedule) -> None:
    s = session(schedule, "astana-2024-sco-plus")
    data = event_bytes(s, schedule, BASE, alarms=(timedelta(days=1), timedelta(minutes=90)))
    alarms = [c for c in read(data).subcomponents if isinstance(c, Alarm)]
    assert [a["ACTION"] for a in alarms] == ["DISPLAY", "DISPLAY"]
    assert [a.TRIGGER for a in alarms] == [timedelta(days=-1), timedelta(minutes=-90)]
    assert prop(data, "TRIGGER") == ["TRIGGER:-P1D", "TRIGGER:-PT1H30M"]
    assert all(a["DESCRIPTION"] == "SCO Plus meeting" for a in alarms)
    assert b"VALARM" not in event_bytes(s, schedule, BASE)


def test_no_alarms_for_a_cancelled_session(schedule: Schedule) -> None:
    s = session(schedule, "astana-2024-dinner")
    assert b"VALARM" not in event_bytes(s, schedule, BASE, alarms=(timedelta(hours=1),))


def test_lines_are_crlf_and_folded_at_75_octets(schedule: Schedule) -> None:
    s = replace(
        session(schedule, "astana-2024-sco-plus"),
        title="Заседание Совета глав государств – членов Шанхайской организации сотрудничества",
        description="🇰🇿" * 60,
    )
    data = event_bytes(s, schedule, BASE)
    assert data.startswith(b"BEGIN:VEVENT\r\n") and data.endswith(b"END:VEVENT\r\n")
    raw = data.split(b"\r\n")
    assert all(len(line) <= 75 for line in raw)
    assert all(b"\n" not in line and b"\r" not in line for line in raw)
    for line in raw:
        line.decode("utf-8")  # folding never splits a character
    assert read(data)["SUMMARY"] == s.title


def test_same_session_same_bytes(schedule: Schedule) -> None:
    s = session(schedule, "dushanbe-2021-csto-council")
    assert event_bytes(s, schedule, BASE) == event_bytes(s, schedule, BASE)


def test_all_day_session_dates_are_local(schedule: Schedule) -> None:
    s = session(schedule, "dushanbe-2021-arrivals")
    assert s.date == date(2021, 9, 15)
    event = read(event_bytes(s, schedule, BASE))
    assert event.start == date(2021, 9, 15)
    assert event.end == date(2021, 9, 17)
    assert not isinstance(event.start, datetime)


def test_stamps_are_utc(schedule: Schedule) -> None:
    event = read(event_bytes(session(schedule, "new-york-2024-winter"), schedule, BASE))
    assert event.DTSTAMP == samples.CHANGED
    assert event.DTSTAMP is not None and event.DTSTAMP.utcoffset() == timedelta(0)
    assert event.LAST_MODIFIED == samples.CHANGED
