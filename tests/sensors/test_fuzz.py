"""Random and mutated bytes never raise anything but DecodeError.

Two fuzzers: Hypothesis over arbitrary bytes, and a seeded mutator over valid payloads (flip,
insert, delete, truncate, extend), which reaches deeper into each parser than random bytes do.
The mutator's seed is printed on failure; replay with BLUEWATCH_FUZZ_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors import (
    CHARACTERISTIC_TYPES,
    CODECS,
    Characteristic,
    CoreAdvertisement,
    DecodeError,
    decode,
)
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement
from sensors.pmd import decode_control_point, decode_indication

VALID_SEEDS = {
    "00002a37-0000-1000-8000-00805f9b34fb": ["1f 4801 3412 0004 3003", "16 48 0004"],
    "00002a38-0000-1000-8000-00805f9b34fb": ["01"],
    "00002a1c-0000-1000-8000-00805f9b34fb": ["07 da0300ff e9070b190e1e05 09", "00 ffff7f00"],
    "00002a67-0000-1000-8000-00805f9b34fb": [
        "ff1f 8e00 393000 c0474418 a094e3d3 1a0400 0e24 1e e9070b190e1e05"
    ],
    "00002a19-0000-1000-8000-00805f9b34fb": ["57"],
    "00002a24-0000-1000-8000-00805f9b34fb": ["425720566573742033"],
    "00002a25-0000-1000-8000-00805f9b34fb": ["5653542d30303432"],
    "00002a26-0000-1000-8000-00805f9b34fb": ["312e342e32"],
    "00002a27-0000-1000-8000-00805f9b34fb": ["7265762043"],
    "00002a28-0000-1000-8000-00805f9b34fb": ["322e302e30"],
    "00002a29-0000-1000-8000-00805f9b34fb": ["426c75657761746368"],
    "b1e50002-5afe-4c0d-a11e-0ff1ce5afe00": ["01 32 3ae20100 02 0c00 2bfc 6900 0f00 31fc 6500"],
    "b1e50003-5afe-4c0d-a11e-0ff1ce5afe00": ["01 06 0300 ecf53600 8102"],
    "b1e50004-5afe-4c0d-a11e-0ff1ce5afe00": ["01 01 02 03 e8030000 0500 01"],
    "00002a39-0000-1000-8000-00805f9b34fb": ["01"],
    # A real CORE read (jogomu/corealarm) and the CORE notes' Table 5 example (every field).
    "00002101-5b1e-4347-b07c-97b514dae121": [
        "17 400e c10d 6008 14 00",
        "37 190f a40d 2f00 11 00 27",
    ],
    # PMD data frames, cut down from the vectors of test_pmd_frames.py: H10 ECG and ACC,
    # compressed ACC types 0 and 1, Verity PPG, PPI and 32-bit gyroscope deltas.
    "fb005c82-02e7-f387-1cad-8acd2d8df0c8": [
        "00 0094357700000000 00 0280ff 028000 750000 fcffff",
        "02 0094357700000000 01 f7ffffffe703 f8fffeffe503",
        "02 6500000000000000 81 f1ff1400f003 0601 7b0f08 0302 41fe2b",
        "02 0000000000000000 80 d0ff6501e40f 0802 fc07ff0c13f2",
        "01 2d3bbaacab31180b 80 bb1af87d9bf894b9f8df20f6 0802 cbead5e200d2de2c",
        "03 0000000000000000 00 808080808007 000100010000",
        "05 0000000000000000 81 0000803f00002041 0000a041 1c01 0000a001000008cdcc ec0d",
    ],
}
# Values decoded by name rather than by UUID: PMD control-point values, whose decoder depends
# on the direction they travel (sensors/pmd), and CORE's manufacturer data (no characteristic).
CONTROL_POINT_SEEDS: dict[str, tuple[Callable[[bytes], Characteristic], list[str]]] = {
    # The CORE notes' Table 2 example and a real scan (jogomu/corealarm).
    "core advertisement": (CoreAdvertisement.decode, ["00 04 b391", "00 04 758e"]),
    "pmd control point": (
        decode_control_point,
        [
            "0f 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "02 02 02 01 08 00 00 01 c8 00 01 01 10 00",
            "f0 01 02 00 00 00 04 19 00 32 00 64 00 c8 00 01 01 10 00 02 03 02 00 04 00 08 00",
            "f0 02 02 00 00 05 01 40 da 7f 39",
            "f0 00 01 0a",
            "08 01",
        ],
    ),
    "pmd indication": (decode_indication, ["01 01 02", "f0 02 00 00 00 00"]),
    # A real Verity Sense (Navideck/universal_ble #69) and OH1 (the SDK's iOS comment).
    "polar advertisement": (
        PolarHrAdvertisement.decode,
        ["72 08 0000000000000000 7a 01 05 37 00 55", "72 06 7f4437000000 33 00 3c"],
    ),
}
MUTATIONS_PER_CODEC = 3000


def _decode_or_refuse(uuid: str, data: bytes) -> Characteristic | None:
    try:
        return decode(uuid, data)
    except DecodeError:
        return None


def test_seed_payloads_cover_every_codec_and_are_valid() -> None:
    assert set(VALID_SEEDS) == set(CODECS)
    for uuid, payloads in VALID_SEEDS.items():
        for payload in payloads:
            decode(uuid, bytes.fromhex(payload))


@pytest.mark.parametrize("codec", CHARACTERISTIC_TYPES, ids=lambda codec: codec.__name__)
def test_random_bytes_only_raise_decode_error(codec: type[Characteristic]) -> None:
    @given(st.binary(max_size=80))
    def check(data: bytes) -> None:
        reading = _decode_or_refuse(codec.UUID, data)
        if reading is not None:
            # Whatever decodes must re-encode and decode to itself.
            assert codec.decode(reading.encode()) == reading

    check()


@pytest.mark.parametrize("name", list(CONTROL_POINT_SEEDS))
def test_random_control_point_bytes_only_raise_decode_error(name: str) -> None:
    decoder, _ = CONTROL_POINT_SEEDS[name]

    @given(st.binary(max_size=80))
    def check(data: bytes) -> None:
        try:
            reading = decoder(data)
        except DecodeError:
            return
        # Whatever decodes must re-encode and decode, by the same decoder, to itself.
        assert decoder(reading.encode()) == reading

    check()


def test_control_point_seeds_are_valid() -> None:
    for decoder, payloads in CONTROL_POINT_SEEDS.values():
        for payload in payloads:
            decoder(bytes.fromhex(payload))


def _mutate(rng: random.Random, data: bytearray) -> bytearray:
    operation = rng.randrange(5)
    position = rng.randrange(len(data) + 1)
    if operation == 0 and data:
        data[position % len(data)] ^= 1 << rng.randrange(8)
    elif operation == 1:
        data.insert(position, rng.randrange(256))
    elif operation == 2 and data:
        del data[position % len(data)]
    elif operation == 3:
        del data[position:]
    else:
        data.extend(rng.randbytes(rng.randrange(1, 8)))
    return data


def _all_decoders() -> list[tuple[str, Callable[[bytes], Characteristic], list[str]]]:
    by_uuid = [(uuid, partial(decode, uuid), payloads) for uuid, payloads in VALID_SEEDS.items()]
    by_message = [(name, fn, payloads) for name, (fn, payloads) in CONTROL_POINT_SEEDS.items()]
    return by_uuid + by_message


def test_mutated_valid_payloads_only_raise_decode_error() -> None:
    seed = int(os.environ.get("BLUEWATCH_FUZZ_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    decoded = refused = 0
    for name, decoder, payloads in _all_decoders():
        for _ in range(MUTATIONS_PER_CODEC):
            data = bytearray(bytes.fromhex(rng.choice(payloads)))
            for _ in range(rng.randrange(1, 4)):
                data = _mutate(rng, data)
            try:
                decoder(bytes(data))
            except DecodeError:
                refused += 1
                continue
            except Exception as exc:  # the point of the test: report anything else with its seed
                pytest.fail(
                    f"{type(exc).__name__} for {name} payload {bytes(data).hex()} "
                    f"(replay with BLUEWATCH_FUZZ_SEED={seed}): {exc}"
                )
            decoded += 1
    # Both outcomes must occur, or the mutator is not exercising the parsers.
    assert decoded > 0
    assert refused > 0, f"seed {seed}"
