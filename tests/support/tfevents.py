"""A reader of TensorBoard event files written from their specification, independent of the
writer under test (tensorboardX) and of any protobuf library: the TFRecord framing (a
little-endian uint64 length, the masked CRC-32C of those 8 bytes, the data, the masked CRC-32C
of the data; every CRC is checked) and the protobuf wire format of the messages read
(tensorflow/core/util/event.proto, framework/summary.proto):

    Event       { double wall_time = 1; int64 step = 2; string file_version = 3;
                  Summary summary = 5; SessionLog session_log = 7; }
    Summary     { repeated Value value = 1; }
    Value       { string tag = 1; float simple_value = 2; }
    SessionLog  { SessionStatus status = 1; }          (START = 1)
"""
from __future__ import annotations

import struct
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return table


TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    """TFRecord's masking: rotate right by 15 bits and add a constant (mod 2^32)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path: Path) -> list[bytes]:
    """The records of a TFRecord file; AssertionError on a bad length or data CRC."""
    data, out, i = Path(path).read_bytes(), [], 0
    while i < len(data):
        header = data[i:i + 8]
        (length,), (crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[i + 8:i + 12])
        assert crc == masked(crc32c(header)), f"bad length CRC at byte {i}"
        body = data[i + 12:i + 12 + length]
        (crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        assert crc == masked(crc32c(body)), f"bad data CRC at byte {i}"
        out.append(body)
        i += 16 + length
    return out


def _varint(b: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = b[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


def fields(b: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of every field of a protobuf message: varints as int,
    fixed64/fixed32 as raw bytes, length-delimited as bytes."""
    out, i = [], 0
    while i < len(b):
        key, i = _varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 5:
            value, i = b[i:i + 4], i + 4
        elif wire == 2:
            n, i = _varint(b, i)
            value, i = b[i:i + n], i + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    return out


def events(path: Path) -> list[dict]:
    """Each Event of the file as {"step", "wall_time", and "scalars" {tag: float} and/or
    "file_version" and/or "session_start" True}."""
    out = []
    for record in records(path):
        event = {"step": 0, "scalars": {}}
        for number, _, value in fields(record):
            if number == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif number == 2:
                event["step"] = value
            elif number == 3:
                event["file_version"] = value.decode()
            elif number == 5:
                for n, _, v in fields(value):
                    if n == 1:
                        parts = {k: x for k, _, x in fields(v)}
                        event["scalars"][parts[1].decode()] = struct.unpack("<f", parts[2])[0]
            elif number == 7:
                event["session_start"] = dict((n, v) for n, _, v in fields(value)).get(1) == 1
        out.append(event)
    return out


def scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``directory`` (in file-name order, as TensorBoard reads
    them), by tag: the (step, value) pairs in the order written, with TensorBoard's purge
    applied: a SessionLog START at step s drops the events read before it at steps >= s."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in events(path):
            if event.get("session_start"):
                out = {t: [(s, v) for s, v in pts if s < event["step"]] for t, pts in out.items()}
            for t, v in event["scalars"].items():
                out.setdefault(t, []).append((event["step"], v))
    return out
