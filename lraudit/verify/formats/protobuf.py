"""Just enough of the protobuf wire format to read TensorBundle entries and keras_metadata.pb.

TensorFlow is the only other thing that can decode these messages and importing it costs
seconds; the few messages verify needs use four wire types and no nesting tricks, so a tiny
decoder is both faster and safer (nothing here can execute or allocate out of proportion).
"""

from __future__ import annotations


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at `pos`; return (value, next position)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint longer than 10 bytes")


def parse_message(buf: bytes) -> dict[int, list]:
    """Split a message into {field number: [values]}.

    Varints and fixed-width fields come back as ints, length-delimited fields as bytes
    (sub-messages are parsed by the caller, which knows the schema).
    """
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        # a field the schema says is a message arrived as a varint or fixed-width number
        raise ProtoError("a nested message is encoded as a number")
    fields: dict[int, list] = {}
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise ProtoError("truncated length-delimited field")
            value = bytes(buf[pos:pos + length])
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def first(fields: dict[int, list], number: int, default=None):
    """The last value of a singular field (protobuf: the last occurrence wins)."""
    values = fields.get(number)
    return values[-1] if values else default


def first_int(fields: dict[int, list], number: int, default: int = 0) -> int:
    """`first()` of a numeric field; ProtoError when damage turned it into bytes."""
    value = first(fields, number, default)
    if not isinstance(value, int):
        raise ProtoError(f"field {number} should be a number")
    return value


def first_bytes(fields: dict[int, list], number: int, default: bytes = b"") -> bytes:
    """`first()` of a length-delimited field; ProtoError when damage turned it into a number."""
    value = first(fields, number, default)
    if not isinstance(value, bytes):
        raise ProtoError(f"field {number} should be length-delimited")
    return value


def signed64(value: int) -> int:
    """int64 fields are encoded as unsigned varints; map back to the signed range."""
    return value - (1 << 64) if value >= (1 << 63) else value
