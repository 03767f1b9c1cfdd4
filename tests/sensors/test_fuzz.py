"""Random and mutated bytes never raise anything but DecodeError.

Two fuzzers: Hypothesis over arbitrary bytes, and a seeded mutator over valid payloads (flip,
insert, delete, truncate, extend), which reaches deeper into each parser than random bytes do.
The mutator's seed is printed on failure; replay with BLUEWATCH_FUZZ_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

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


@given(st.binary(max_size=12))
def test_random_bytes_as_core_advertisement_only_raise_decode_error(data: bytes) -> None:
    try:
        beacon = CoreAdvertisement.decode(data)
    except DecodeError:
        return
    assert CoreAdvertisement.decode(beacon.encode()) == beacon


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


def _seed() -> int:
    return int(os.environ.get("BLUEWATCH_FUZZ_SEED", random.SystemRandom().randrange(2**32)))


def _mutants(rng: random.Random, payloads: list[str]) -> Iterator[bytes]:
    for _ in range(MUTATIONS_PER_CODEC):
        data = bytearray(bytes.fromhex(rng.choice(payloads)))
        for _ in range(rng.randrange(1, 4)):
            data = _mutate(rng, data)
        yield bytes(data)


def test_mutated_valid_payloads_only_raise_decode_error() -> None:
    seed = _seed()
    rng = random.Random(seed)
    decoded = refused = 0
    for uuid, payloads in VALID_SEEDS.items():
        for data in _mutants(rng, payloads):
            try:
                reading = _decode_or_refuse(uuid, data)
            except Exception as exc:  # the point of the test: report anything else with its seed
                pytest.fail(
                    f"{type(exc).__name__} for {uuid} payload {data.hex()} "
                    f"(replay with BLUEWATCH_FUZZ_SEED={seed}): {exc}"
                )
            if reading is None:
                refused += 1
            else:
                decoded += 1
    # Both outcomes must occur, or the mutator is not exercising the parsers.
    assert decoded > 0
    assert refused > 0, f"seed {seed}"


# CORE's manufacturer data: the notes' Table 2 example and a real scan (jogomu/corealarm).
CORE_ADVERTISEMENT_SEEDS = ["00 04 b391", "00 04 758e"]


def test_mutated_core_advertisements_only_raise_decode_error() -> None:
    seed = _seed()
    outcomes = {"decoded": 0, "refused": 0}
    for data in _mutants(random.Random(seed), CORE_ADVERTISEMENT_SEEDS):
        try:
            beacon = CoreAdvertisement.decode(data)
        except DecodeError:
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # the point of the test: report anything else with its seed
            pytest.fail(
                f"{type(exc).__name__} for CORE advertisement {data.hex()} "
                f"(replay with BLUEWATCH_FUZZ_SEED={seed}): {exc}"
            )
        assert CoreAdvertisement.decode(beacon.encode()) == beacon
        outcomes["decoded"] += 1
    assert outcomes["decoded"] > 0, f"seed {seed}"
    assert outcomes["refused"] > 0, f"seed {seed}"
