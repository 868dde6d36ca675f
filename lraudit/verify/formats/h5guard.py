"""Check the string attributes of an HDF5 object before h5py reads them.

Why: h5py stores a `str` attribute as a variable-length string, whose bytes live in the file's
global heap; the attribute itself holds only a 16-byte reference starting with the string's
length.  HDF5 allocates that length before it looks at the heap, so one flipped bit in it made
reading `training_config` of a 21 kB legacy `.h5` take 1.5 GB and two seconds (found by
fuzzing; a 32-bit length allows 4 GB).  Here the object's header is read directly and every
such length is compared with the file's size first; a length no file of this size can hold is
a corrupt checkpoint (LRV008), reported before HDF5 gets to allocate anything.

Only what Keras writes is understood: version-1 object headers (h5py's default) with their
continuation blocks, attribute messages of versions 1 to 3, scalar or one-dimensional
dataspaces.  Anything else is left to HDF5 unchecked (it is not what a damaged Keras file
looks like), so the check can only ever refuse a length that is impossible.
"""

from __future__ import annotations

import struct
from typing import Callable

from lraudit.verify.formats.errors import ReaderError
from lraudit.verify.formats.hdf5 import child

ReadAt = Callable[[int, int], bytes]  # (offset, size) -> bytes, shorter at the end of the file

_CONTINUATION = 0x0010
_ATTRIBUTE = 0x000C
_VLEN = 9
_MAX_CHUNKS = 64
_MAX_HEADER_BYTES = 1 << 20
_MAX_HEAP_BYTES = 256 << 20


def check_string_attributes(read_at: ReadAt, header_address: int, file_size: int, what: str,
                            heaps: set[int] | None = None) -> None:
    """Raise ReaderError when a variable-length attribute of the object whose (v1) header is at
    `header_address` claims more bytes than the whole file has, or points into a global heap
    collection HDF5 would loop on; `what` names the object, `heaps` the collections already
    checked."""
    heaps = set() if heaps is None else heaps
    if not 0 <= header_address <= file_size - 16:
        return
    prefix = read_at(header_address, 16)
    if len(prefix) < 16 or prefix[0] != 1:
        return  # not a version-1 object header: not ours to judge
    size = struct.unpack_from("<I", prefix, 8)[0]
    chunks = [(header_address + 16, size)]
    seen = 0
    while chunks and seen < _MAX_CHUNKS:
        start, length = chunks.pop()
        seen += 1
        if length <= 0 or length > _MAX_HEADER_BYTES or not 0 <= start <= file_size - length:
            return  # HDF5 itself reports a header that points outside the file
        block = read_at(start, length)
        pos = 0
        while pos + 8 <= len(block):
            kind, msg_size = struct.unpack_from("<HH", block, pos)
            body = block[pos + 8:pos + 8 + msg_size]
            pos += 8 + msg_size
            if kind == _CONTINUATION and len(body) >= 16:
                chunks.append(struct.unpack_from("<QQ", body, 0))
            elif kind == _ATTRIBUTE:
                for heap in _check_attribute(body, file_size, what):
                    if heap not in heaps:
                        heaps.add(heap)
                        _check_heap(read_at, heap, file_size, what)


def _check_heap(read_at: ReadAt, address: int, file_size: int, what: str) -> None:
    """Walk a global heap collection the way HDF5 1.14 decodes it (H5HG__cache_heap_deserialize):
    a free-space entry of size 0 does not advance, and HDF5 spins on it forever (found by
    fuzzing: one byte inserted into a legacy `.h5` made `attrs["keras_version"]` hang)."""
    if address + 16 > file_size:
        return  # HDF5 reports an address past the end of the file itself
    header = read_at(address, 16)
    if len(header) < 16 or header[:4] != b"GCOL":
        return  # HDF5 reports a bad signature itself
    size = struct.unpack_from("<Q", header, 8)[0]
    if size < 16 or address + size > file_size or size > _MAX_HEAP_BYTES:
        return  # HDF5 refuses a collection that leaves the file
    heap = read_at(address, size)
    pos = 16
    while pos + 16 <= len(heap):
        index = struct.unpack_from("<H", heap, pos)[0]
        object_size = struct.unpack_from("<Q", heap, pos + 8)[0]
        need = 16 + (object_size + 7) // 8 * 8 if index > 0 else object_size
        if need == 0:
            raise ReaderError(f"HDF5 global heap at byte {address} is corrupt (an empty free-space "
                              f"entry; HDF5 would never finish reading {what or 'the root'}'s attributes)")
        pos += need


def _check_attribute(body: bytes, file_size: int, what: str) -> list[int]:
    """Check one attribute message; returns the global heap collections its strings live in."""
    if len(body) < 8:
        return []
    version = body[0]
    if version not in (1, 2, 3):
        return []
    name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
    offset = 9 if version == 3 else 8  # version 3 adds a name-encoding byte
    name = body[offset:offset + name_size].split(b"\0", 1)[0].decode("utf-8", "replace")
    offset += _padded(name_size, version)
    datatype = body[offset:offset + type_size]
    offset += _padded(type_size, version)
    dataspace = body[offset:offset + space_size]
    offset += _padded(space_size, version)
    if len(datatype) < 8 or datatype[0] & 0x0F != _VLEN:
        return []
    count = _elements(dataspace)
    if count is None:
        return []
    data = body[offset:offset + 16 * count]
    heaps = []
    for index in range(len(data) // 16):
        length, heap = struct.unpack_from("<IQ", data, 16 * index)
        if length > file_size:
            raise ReaderError(f"HDF5 attribute {what}{name} is corrupt: a string of {length} bytes "
                              f"in a {file_size}-byte file")
        if length and heap not in heaps:
            heaps.append(heap)
    return heaps


def _padded(size: int, version: int) -> int:
    """Version-1 attribute messages pad the name, datatype and dataspace to 8 bytes each."""
    return (size + 7) // 8 * 8 if version == 1 else size


def _elements(dataspace: bytes) -> int | None:
    """Number of elements of a scalar or 1-D dataspace (version 1 or 2), else None."""
    if len(dataspace) < 4:
        return None
    version, rank, _flags = dataspace[0], dataspace[1], dataspace[2]
    if version == 1:
        dims_at = 8
    elif version == 2:
        if dataspace[3] == 0:      # scalar
            return 1
        if dataspace[3] == 2:      # null
            return 0
        dims_at = 4
    else:
        return None
    if rank == 0:
        return 1
    if rank != 1 or len(dataspace) < dims_at + 8:
        return None
    count = struct.unpack_from("<Q", dataspace, dims_at)[0]
    return count if count <= 65536 else None


def check_keras_h5(f, open_raw: Callable[[], object], file_size: int) -> None:
    """Check the objects whose string attributes the readers decode: the root (keras_version,
    training_config, model_config) and `optimizer_weights` (weight_names).

    `f`: the open h5py.File; `open_raw()`: the same file as a binary file object, for reading
    header bytes directly.
    """
    import h5py  # noqa: PLC0415 - only ever called with h5py already loaded

    base = f.userblock_size or 0
    objects = [(f, "")]
    group = child(f, "optimizer_weights")
    if isinstance(group, h5py.Group):
        objects.append((group, "optimizer_weights/"))
    with open_raw() as raw:
        def read_at(offset: int, size: int) -> bytes:
            raw.seek(base + offset)
            return raw.read(size)

        heaps: set[int] = set()
        for obj, what in objects:
            address = getattr(h5py.h5o.get_info(obj.id), "addr", None)
            if isinstance(address, int):
                check_string_attributes(read_at, address, file_size - base, what, heaps)
