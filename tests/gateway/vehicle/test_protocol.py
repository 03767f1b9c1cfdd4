"""gpsd's JSON reports to TPV and SKY: what gpsd 3.22 sends, what older daemons send, and junk."""

from __future__ import annotations

import asyncio

import pytest

from gateway.vehicle.gpsd_client import read_reports
from gateway.vehicle.protocol import FixMode, GpsdProtocolError, Sky, Tpv, parse_report

# Lines as gpsd 3.22 wrote them while gpsfake replayed tests.support.nmea.py.
TPV_3D = (
    b'{"class":"TPV","device":"/dev/pts/1","mode":3,"time":"2026-11-25T14:00:05.000Z",'
    b'"ept":0.005,"lat":40.759276667,"lon":-73.984626667,"altHAE":-22.2000,"altMSL":12.0000,'
    b'"alt":12.0000,"epx":17.395,"epy":13.823,"epv":29.900,"track":45.0000,'
    b'"magtrack":32.1777,"magvar":-12.8,"speed":12.002,"geoidSep":-34.200,"eph":17.100}\n'
)
TPV_NO_FIX = b'{"class":"TPV","device":"/dev/pts/1","mode":1,"time":"2026-11-25T14:00:14.000Z"}\n'
SKY = (
    b'{"class":"SKY","device":"/dev/pts/1","hdop":0.90,"nSat":8,"uSat":7,"satellites":['
    b'{"PRN":2,"el":30.0,"az":0.0,"ss":40.0,"used":true,"gnssid":0,"svid":2}]}\n'
)


def test_tpv_with_a_fix() -> None:
    assert parse_report(TPV_3D) == Tpv(
        FixMode.FIX_3D, 40.759276667, -73.984626667, 12.0, 12.002, 45.0, 17.1
    )


def test_tpv_without_a_fix_has_no_position() -> None:
    assert parse_report(TPV_NO_FIX) == Tpv(FixMode.NO_FIX)


def test_a_stale_position_without_a_fix_is_dropped() -> None:
    line = b'{"class":"TPV","mode":1,"lat":40.7,"lon":-73.9,"speed":3.0}'
    assert parse_report(line) == Tpv(FixMode.NO_FIX)


def test_older_daemons_altitude_spelling() -> None:
    report = parse_report(b'{"class":"TPV","mode":3,"lat":1.0,"lon":2.0,"alt":99.5}')
    assert isinstance(report, Tpv)
    assert report.altitude_m == 99.5


def test_sky_counts() -> None:
    assert parse_report(SKY) == Sky(visible=8, used=7)


def test_sky_without_counts_counts_the_list() -> None:
    line = b'{"class":"SKY","satellites":[{"PRN":1,"used":true},{"PRN":2,"used":false}]}'
    assert parse_report(line) == Sky(visible=2, used=1)


@pytest.mark.parametrize(
    "line",
    [
        b'{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}',
        b'{"class":"DEVICE","path":"/dev/pts/1","activated":0}',
        b'{"class":"PPS","device":"/dev/pps0","real_sec":1}',
        b'{"class":"SOMETHING_NEW","x":1}',
    ],
)
def test_other_classes_are_ignored(line: bytes) -> None:
    assert parse_report(line) is None


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"class":"TPV","mode":"three"}',
        b'{"class":"TPV","mode":7}',
        b'{"class":"SKY","uSat":"many"}',
        b"\xff\xfe\n",
    ],
)
def test_malformed_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(GpsdProtocolError):
        parse_report(line)


async def test_the_reader_skips_junk_and_overlong_lines_and_ends_at_eof() -> None:
    reader = asyncio.StreamReader(limit=256)
    reader.feed_data(b"garbage\n" + b'{"class":"PPS"}\n' + b"x" * 1000 + b"\n" + TPV_NO_FIX + SKY)
    reader.feed_eof()
    reports = [report async for report in read_reports(reader)]
    assert reports == [Tpv(FixMode.NO_FIX), Sky(visible=8, used=7)]
