"""Scenario files: every shipped one loads; bad files fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from random import Random

import pytest

from firmware_mocks.scenario import (
    Activity,
    ScenarioError,
    build_schedule,
    list_scenarios,
    load_scenario,
)
from tests.firmware_mocks.builders import scenario

PROMISED = {
    "patrol-shift",
    "foot-pursuit",
    "officer-down",
    "heat-stress",
    "panic-press",
    "holster-draw",
    "device-dropout",
    "low-battery",
    "malformed-packets",
    "clock-skew",
}

GOOD = """
name = "tiny"
description = "a test scenario"
duration_s = 600

[environment]
ambient_c = 20.0
relative_humidity_pct = 50.0

[roster]
size = 2

[[routine]]
activity = "standing"
duration_s = [60, 120]

[[timeline]]
at_s = 0
activity = "walking"
officers = [0]
"""


def test_every_promised_scenario_ships_and_loads() -> None:
    assert set(list_scenarios()) >= PROMISED
    for name in list_scenarios():
        loaded = load_scenario(name)
        assert loaded.name == name
        assert loaded.duration_s > 0


def test_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD)
    assert load_scenario(path).name == "tiny"
    assert load_scenario(str(path)).roster.size == 2


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no-such\.toml.*known: .*officer-down"):
        load_scenario("no-such")


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (('activity = "walking"', 'activity = "flying"'), "timeline[0].activity", "flying"),
        (("duration_s = 600\n", ""), "duration_s", "required"),
        (("duration_s = 600", 'duration_s = "long"'), "duration_s", "number"),
        (("size = 2", "size = 2\nsquad = 3"), "roster.squad", "not permitted"),
        (("officers = [0]", "officers = [5]"), "timeline[0].officers", "outside the roster"),
        (("officers = [0]", 'officers = "some"'), "timeline[0].officers", '"all"'),
        (("duration_s = [60, 120]", "duration_s = [120, 60]"), "routine[0].duration_s", "low"),
        (("at_s = 0", "at_s = 900"), "timeline[0].at_s", "before the end"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(
    tmp_path: Path, edit: tuple[str, str], key: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        ('kind = "malformed"\nevery_n = 0', "faults[0].every_n"),
        ('kind = "malformed"', "faults[0].every_n"),
        ('kind = "meltdown"', "faults[0].kind"),
        ('kind = "dropout"', "faults[0].duration_s"),
    ],
)
def test_fault_errors_name_the_fault_key(tmp_path: Path, fault: str, key: str) -> None:
    path = tmp_path / "bad-fault.toml"
    path.write_text(f'{GOOD}\n[[faults]]\nat_s = 10\ndevice = "vest"\nofficers = "all"\n{fault}\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == key
    assert str(path) in str(caught.value)


def test_an_event_must_come_from_the_device_that_sends_it(tmp_path: Path) -> None:
    path = tmp_path / "bad-event.toml"
    event = '[[events]]\nat_s = 5\nkind = "impact"\ndevice = "vest"\nofficers = [0]\n'
    path.write_text(GOOD + event)
    with pytest.raises(ScenarioError, match=r"events\[0\]\.device: impact is sent by the helmet"):
        load_scenario(path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ScenarioError, match=r"broken\.toml: invalid TOML"):
        load_scenario(path)


def test_phases_override_the_routine_and_acts_lead_into_states() -> None:
    built = scenario([(100, "walking"), (200, "falling")], duration_s=600, roster_size=2)
    mine = build_schedule(built, 0, Random(1))
    assert mine.at(50).activity is Activity.STANDING  # the routine before the first phase
    assert mine.at(150).activity is Activity.WALKING
    assert mine.at(201).activity is Activity.FALLING
    assert mine.at(203).activity is Activity.LYING_STILL  # a fall leaves the officer lying
    assert mine.at(599).activity is Activity.LYING_STILL
    other = build_schedule(built, 1, Random(1))
    assert {s.activity for s in other.segments} == {Activity.STANDING}
    starts = [s.start_s for s in mine.segments]
    assert starts == sorted(starts)
    assert starts[0] == 0
    assert all(a.end_s == b.start_s for a, b in zip(mine.segments, mine.segments[1:], strict=False))


def test_routine_phase_hands_back_and_duration_ends_a_phase() -> None:
    built = scenario([(100, "running"), (200, "routine")], duration_s=600)
    mine = build_schedule(built, 0, Random(2))
    assert mine.at(150).activity is Activity.RUNNING
    assert mine.at(250).activity is Activity.STANDING
    timed = scenario([], duration_s=600, timeline=[
        {"at_s": 0, "activity": "walking", "officers": "all", "duration_s": 60}
    ])  # fmt: skip
    assert build_schedule(timed, 0, Random(3)).at(90).activity is Activity.STANDING


def test_only_a_heart_rate_device_can_lose_skin_contact(tmp_path: Path) -> None:
    path = tmp_path / "bad-contact.toml"
    fault = '[[faults]]\nat_s = 10\ndevice = "helmet"\nofficers = "all"\nkind = "contact_loss"\n'
    path.write_text(f"{GOOD}\n{fault}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "faults[0].device"
