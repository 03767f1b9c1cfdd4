"""SampleClock: sample times from a device's counter that never run ahead of their arrival."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from gateway.activity import SampleClock
from gateway.domain import NS_PER_S
from sensors import SAMPLE_INDEX_MODULO

BATCH = 39  # samples per vest notification at ATT_MTU 247 (docs/gatt-profile.md)
PERIOD_NS = NS_PER_S // 50


def test_a_burst_of_buffered_batches_leaves_no_lasting_lead() -> None:
    """A minute buffered during a stall arrives within a second; then data flows in real time."""
    clock = SampleClock(50)
    index, arrival = 0, 10**12
    late: list[tuple[int, int]] = []  # (sample time, its batch's arrival) where later
    for _ in range(10):  # steady flow before the stall
        arrival += BATCH * PERIOD_NS
        clock.place(index, BATCH, arrival)
        index += BATCH
    arrival += 60 * NS_PER_S
    for _ in range(77):  # 60 s of samples arrive bunched, 10 ms apart
        arrival += 10_000_000
        times = clock.place(index, BATCH, arrival)
        late += [(t, arrival) for t in times if t > arrival]
        index += BATCH
    for _ in range(77):  # a minute of real-time flow
        arrival += BATCH * PERIOD_NS
        times = clock.place(index, BATCH, arrival)
        late += [(t, arrival) for t in times if t > arrival]
        index += BATCH
    assert late == []
    assert arrival - times[-1] < NS_PER_S  # and no lasting lag either: it tracks arrival


def test_a_device_sending_faster_than_its_rate_gains_no_time() -> None:
    """It says 50 Hz but sends 100 samples a second: stamps stay within arrival."""
    clock = SampleClock(50)
    index, arrival = 0, 10**12
    for _ in range(600):  # a minute of 10 batches a second of 10 samples each
        arrival += NS_PER_S // 10
        times = clock.place(index, 10, arrival)
        assert times[-1] <= arrival
        assert times == sorted(times)
        index += 10
    assert arrival - times[0] < NS_PER_S


def test_a_restart_drops_the_old_timelines_floor() -> None:
    """A restart right after a batch starts from its own arrival, not after the old samples."""
    clock = SampleClock(50)
    first = clock.place(1000, BATCH, 10 * NS_PER_S)
    assert first[-1] == 10 * NS_PER_S
    restarted = clock.place(0, BATCH, 10 * NS_PER_S + 100_000_000)  # the counter went back
    assert restarted[-1] == 10 * NS_PER_S + 100_000_000
    assert restarted[1] - restarted[0] == PERIOD_NS  # placed a period apart, not squeezed


batches = st.lists(
    st.tuples(
        st.integers(1, 300),  # samples in the batch
        st.integers(0, 5 * NS_PER_S),  # time since the previous arrival
        st.integers(-SAMPLE_INDEX_MODULO // 2, 2000),  # counter jump (lost samples, restart)
    ),
    min_size=1,
    max_size=60,
)


@given(rate_hz=st.integers(1, 1000), batches=batches)
def test_no_sample_is_stamped_after_its_arrival(
    rate_hz: int, batches: list[tuple[int, int, int]]
) -> None:
    clock = SampleClock(rate_hz)
    index, arrival = 0, 10**15
    for count, gap_ns, jump in batches:
        arrival += gap_ns
        index = (index + jump) % SAMPLE_INDEX_MODULO
        times = clock.place(index, count, arrival)
        assert len(times) == count
        assert max(times) <= arrival
        assert all(a <= b for a, b in itertools.pairwise(times))
        index = (index + count) % SAMPLE_INDEX_MODULO
