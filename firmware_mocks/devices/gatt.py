"""A device's GATT database, built from its `sensors` profile, with explicit handlers.

Every characteristic has a read handler and a write handler. Bumble leaves an ATT Write Request
to a characteristic without a write handler unanswered, so a client would wait for its timeout;
here such writes get the Write Not Permitted error at once, as a real device answers.

A service the profile marks `encrypted` is served only on an encrypted link: its values and
their Client Characteristic Configuration descriptors (subscriptions) answer Insufficient
Encryption otherwise. Bumble adds a CCCD that anyone may write, so those services get their own.

SIG UUIDs are declared in their 16-bit form, as firmware declares them: Bumble's Database Hash
(Core Vol 3 G 7.3.1) is computed over the declarations as given, so a 128-bit spelling of a SIG
UUID, which Bumble shortens on the air, would make the hash disagree with what a client reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bumble.att import ATT_Error, AttributeValueV2, ErrorCode
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import (
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    Characteristic,
    CharacteristicValue,
    Descriptor,
    Service,
)

from sensors import (
    BodySensorLocation,
    DeviceProfile,
    FirmwareRevision,
    HardwareRevision,
    ManufacturerName,
    ModelNumber,
    SensorLocation,
    SerialNumber,
    SoftwareRevision,
)
from sensors import (
    Characteristic as SensorCharacteristic,
)
from sensors.profiles import Property
from sensors.uuids import SIG_BASE_SUFFIX


@dataclass(frozen=True)
class DeviceIdentity:
    """What the Device Information service says about one unit."""

    manufacturer: str
    model: str
    serial: str
    hardware_revision: str
    firmware_revision: str
    software_revision: str

    def values(self) -> dict[str, SensorCharacteristic]:
        return {
            codec.UUID: codec(text=text)
            for codec, text in (
                (ManufacturerName, self.manufacturer),
                (ModelNumber, self.model),
                (SerialNumber, self.serial),
                (HardwareRevision, self.hardware_revision),
                (FirmwareRevision, self.firmware_revision),
                (SoftwareRevision, self.software_revision),
            )
        }


def declared_uuid(text: str) -> UUID:
    """A profile's UUID as firmware declares it: 16 bits for a SIG one, 128 otherwise."""
    lowered = text.lower()
    if lowered.endswith(SIG_BASE_SUFFIX) and lowered.startswith("0000"):
        return UUID.from_16_bits(int(lowered[4:8], 16))
    return UUID(text)


_PROPERTIES = {
    Property.READ: Characteristic.Properties.READ,
    Property.NOTIFY: Characteristic.Properties.NOTIFY,
}
_ENCRYPTED = (
    Characteristic.Permissions.READ_REQUIRES_ENCRYPTION
    | Characteristic.Permissions.WRITE_REQUIRES_ENCRYPTION
)
_READ_WRITE = Characteristic.Permissions.READABLE | Characteristic.Permissions.WRITEABLE

# The GATT server's value of a characteristic's CCCD (its subscribers), for a descriptor made
# here: `bumble.gatt_server.Server.make_descriptor_value`.
CccdValue = Callable[[Characteristic[Any]], AttributeValueV2[bytes]]


class GattDatabase:
    """The services of one profile; holds the latest value of each characteristic for reads."""

    def __init__(
        self, profile: DeviceProfile, identity: DeviceIdentity, cccd_value: CccdValue
    ) -> None:
        self.profile = profile
        self._values: dict[str, bytes] = {
            uuid: reading.encode() for uuid, reading in identity.values().items()
        }
        self._values[BodySensorLocation.UUID] = BodySensorLocation(
            body_sensor_location=SensorLocation.CHEST
        ).encode()
        self.characteristics: dict[str, Characteristic[Any]] = {}
        self.services: list[Service] = []
        for service_spec in profile.services:
            characteristics = []
            for spec in service_spec.characteristics:
                properties = Characteristic.Properties(0)
                for prop in spec.properties:
                    properties |= _PROPERTIES[prop]
                readable = Property.READ in spec.properties
                permissions = Characteristic.READABLE if readable else Characteristic.Permissions(0)
                if service_spec.encrypted:
                    permissions |= _ENCRYPTED
                characteristic = Characteristic(
                    declared_uuid(spec.uuid),
                    properties,
                    permissions,
                    CharacteristicValue(
                        read=self._reader(spec.uuid, readable=readable), write=self._refuse_write
                    ),
                )
                if service_spec.encrypted and Property.NOTIFY in spec.properties:
                    characteristic.descriptors = [
                        Descriptor(
                            GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
                            _READ_WRITE | _ENCRYPTED,
                            cccd_value(characteristic),
                        )
                    ]
                self.characteristics[spec.uuid] = characteristic
                characteristics.append(characteristic)
            self.services.append(Service(declared_uuid(service_spec.uuid), characteristics))

    def set_value(self, uuid: str, value: bytes) -> None:
        self._values[uuid] = value

    def value(self, uuid: str) -> bytes:
        return self._values.get(uuid, b"")

    def _reader(self, uuid: str, *, readable: bool) -> Any:
        def read(connection: Connection) -> bytes:
            del connection
            if not readable:
                raise ATT_Error(ErrorCode.READ_NOT_PERMITTED)
            return self._values.get(uuid, b"")

        return read

    @staticmethod
    def _refuse_write(connection: Connection, value: Any) -> None:
        del connection, value
        raise ATT_Error(ErrorCode.WRITE_NOT_PERMITTED)
