"""GattLayout: the Database Hash of a discovered layout, and the layout's stored form."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.ble.gatt_layout import DescriptorLayout, GattLayout, LayoutError

# The vest's layout as the gateway discovered it over ATT from the simulated vest (GAP, GATT,
# Heart Rate, Health Thermometer, Officer Safety, Battery, Device Information), and the
# Database Hash the vest's GATT server (Bumble's) served for it on the same link.
VEST_LAYOUT_JSON = (
    '[{"handle":1,"end":5,"uuid":"0018","characteristics":[{"handle":3,"end":3,"uuid":"002a",'
    '"properties":2,"descriptors":[]},{"handle":5,"end":5,"uuid":"012a","properties":2,"descr'
    'iptors":[]}]},{"handle":6,"end":13,"uuid":"0118","characteristics":[{"handle":8,"end":9,'
    '"uuid":"052a","properties":32,"descriptors":[[9,"0229"]]},{"handle":11,"end":11,"uuid":"'
    '292b","properties":10,"descriptors":[]},{"handle":13,"end":13,"uuid":"2a2b","properties"'
    ':2,"descriptors":[]}]},{"handle":14,"end":19,"uuid":"0d18","characteristics":[{"handle":'
    '16,"end":17,"uuid":"372a","properties":16,"descriptors":[[17,"0229"]]},{"handle":19,"end'
    '":19,"uuid":"382a","properties":2,"descriptors":[]}]},{"handle":20,"end":23,"uuid":"0918'
    '","characteristics":[{"handle":22,"end":23,"uuid":"1c2a","properties":16,"descriptors":['
    '[23,"0229"]]}]},{"handle":24,"end":33,"uuid":"00fe5acef10f1ea10d4cfe5a0100e5b1","charact'
    'eristics":[{"handle":26,"end":27,"uuid":"00fe5acef10f1ea10d4cfe5a0200e5b1","properties":'
    '16,"descriptors":[[27,"0229"]]},{"handle":29,"end":30,"uuid":"00fe5acef10f1ea10d4cfe5a03'
    '00e5b1","properties":16,"descriptors":[[30,"0229"]]},{"handle":32,"end":33,"uuid":"00fe5'
    'acef10f1ea10d4cfe5a0400e5b1","properties":18,"descriptors":[[33,"0229"]]}]},{"handle":34'
    ',"end":37,"uuid":"0f18","characteristics":[{"handle":36,"end":37,"uuid":"192a","properti'
    'es":18,"descriptors":[[37,"0229"]]}]},{"handle":38,"end":50,"uuid":"0a18","characteristi'
    'cs":[{"handle":40,"end":40,"uuid":"292a","properties":2,"descriptors":[]},{"handle":42,"'
    'end":42,"uuid":"242a","properties":2,"descriptors":[]},{"handle":44,"end":44,"uuid":"252'
    'a","properties":2,"descriptors":[]},{"handle":46,"end":46,"uuid":"272a","properties":2,"'
    'descriptors":[]},{"handle":48,"end":48,"uuid":"262a","properties":2,"descriptors":[]},{"'
    'handle":50,"end":50,"uuid":"282a","properties":2,"descriptors":[]}]}]'
)
VEST_DATABASE_HASH = bytes.fromhex("57781cad39d8764599f812ddeb0b7ff5")


def vest() -> GattLayout:
    return GattLayout.from_json(json.loads(VEST_LAYOUT_JSON))


def test_the_hash_of_a_discovered_layout_is_the_one_its_server_served() -> None:
    assert vest().database_hash() == VEST_DATABASE_HASH


def test_the_stored_form_reads_back_as_the_same_layout() -> None:
    layout = vest()
    assert GattLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout


@pytest.mark.parametrize(
    "change",
    [
        "a characteristic moved",
        "a property changed",
        "a descriptor added",
        "a service's UUID changed",
    ],
)
def test_any_change_the_hash_covers_changes_the_hash(change: str) -> None:
    layout = vest()
    heart_rate = layout.services[2]
    measurement = heart_rate.characteristics[0]
    if change == "a characteristic moved":
        changed = replace(measurement, handle=measurement.handle + 1)
    elif change == "a property changed":
        changed = replace(measurement, properties=measurement.properties | 0x02)
    elif change == "a descriptor added":
        extra = DescriptorLayout(measurement.end_handle, bytes.fromhex("0129"))
        changed = replace(measurement, descriptors=(*measurement.descriptors, extra))
    else:
        changed = measurement
        heart_rate = replace(heart_rate, uuid=bytes.fromhex("0e18"))
    heart_rate = replace(heart_rate, characteristics=(changed, *heart_rate.characteristics[1:]))
    other = GattLayout((*layout.services[:2], heart_rate, *layout.services[3:]))
    assert other.database_hash() != VEST_DATABASE_HASH


def test_a_descriptor_the_hash_leaves_out_leaves_it_unchanged() -> None:
    """Only the descriptor types of Core Vol 3 G 7.3.1 count; a vendor descriptor does not."""
    layout = vest()
    heart_rate = layout.services[2]
    measurement = heart_rate.characteristics[0]
    vendor = DescriptorLayout(measurement.end_handle, bytes(range(16)))
    changed = replace(measurement, descriptors=(*measurement.descriptors, vendor))
    heart_rate = replace(heart_rate, characteristics=(changed, *heart_rate.characteristics[1:]))
    other = GattLayout((*layout.services[:2], heart_rate, *layout.services[3:]))
    assert other.database_hash() == VEST_DATABASE_HASH


def test_extended_properties_make_a_layout_unhashable() -> None:
    """Their value is in the hash and discovery does not read it: no hash can be checked."""
    layout = vest()
    heart_rate = layout.services[2]
    measurement = heart_rate.characteristics[0]
    extended = DescriptorLayout(measurement.end_handle, bytes.fromhex("0029"))
    changed = replace(measurement, descriptors=(extended,))
    heart_rate = replace(heart_rate, characteristics=(changed, *heart_rate.characteristics[1:]))
    assert GattLayout((heart_rate,)).database_hash() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"services": []}, "a layout is a list of services"),
        ([{"handle": 1, "end": 5, "uuid": "0018"}], "service 0: expected an object with"),
        (
            [{"handle": 0, "end": 5, "uuid": "0018", "characteristics": []}],
            "service 0: 0 is not an attribute handle",
        ),
        (
            [{"handle": 1, "end": 5, "uuid": "001", "characteristics": []}],
            "service 0: '001' is not a 2- or 16-octet UUID",
        ),
        (
            [
                {
                    "handle": 1,
                    "end": 5,
                    "uuid": "0018",
                    "characteristics": [
                        {
                            "handle": 3,
                            "end": 3,
                            "uuid": "002a",
                            "properties": 256,
                            "descriptors": [],
                        }
                    ],
                }
            ],
            "service 0, characteristic 0: 256 is not a properties octet",
        ),
        (
            [
                {
                    "handle": 1,
                    "end": 5,
                    "uuid": "0018",
                    "characteristics": [
                        {"handle": 3, "end": 3, "uuid": "002a", "properties": 2, "descriptors": [9]}
                    ],
                }
            ],
            "service 0, characteristic 0: descriptors is not a list of [handle, uuid] pairs",
        ),
    ],
)
def test_a_malformed_stored_layout_is_refused_naming_where(data: object, message: str) -> None:
    with pytest.raises(LayoutError, match=message.replace("[", r"\[").replace("]", r"\]")):
        GattLayout.from_json(data)
