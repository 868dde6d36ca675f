"""Read TensorFlow's checkpoint format (TensorBundle) without TensorFlow.

A TF checkpoint `<prefix>` is `<prefix>.index`, a LevelDB-style SSTable mapping each variable's
key to a BundleEntryProto (dtype, shape, shard, byte offset and size), plus the data shards
`<prefix>.data-NNNNN-of-MMMMM` holding the raw little-endian tensor bytes.  The index is small
(one entry per variable) whatever the model size, and a scalar is read with one seek, so this
reader costs the same for a 10 kB and a 10 GB checkpoint.  Used for TF object checkpoints,
SavedModel `variables/variables` and tf-keras BackupAndRestore directories.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import Any

from lraudit.verify.formats.protobuf import ProtoError, first_bytes, first_int, parse_message, read_varint, signed64
from lraudit.verify.storage import LOCAL

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_MAX_INDEX_BYTES = 256 * 1024 * 1024  # an index this large is not a checkpoint we can reason about

# DataType enum values (tensorflow/core/framework/types.proto) -> struct format
_SCALAR_FORMATS = {1: "<f", 2: "<d", 3: "<i", 4: "<B", 5: "<h", 6: "<b", 9: "<q", 10: "<?",
                   17: "<H", 19: "<e", 22: "<I", 23: "<Q"}
DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
               7: "string", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 19: "float16",
               22: "uint32", 23: "uint64"}


class BundleError(ValueError):
    """The checkpoint files are missing, truncated or not a TensorBundle."""


@dataclass(frozen=True)
class Entry:
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    sliced: bool = False


@dataclass
class Bundle:
    prefix: str
    num_shards: int
    entries: dict[str, Entry]
    storage: Any = LOCAL     # where the data shards are read from (lraudit.verify.storage)

    def data_path(self, shard_id: int) -> str:
        return f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}"

    def read_scalar(self, key: str) -> int | float | bool:
        """Read one scalar tensor by key with a single seek into its data shard."""
        entry = self.entries[key]
        fmt = _SCALAR_FORMATS.get(entry.dtype)
        if fmt is None or entry.shape != () or entry.sliced:
            raise BundleError(f"{key} is not a numeric scalar")
        width = struct.calcsize(fmt)
        if entry.size != width:
            raise BundleError(f"{key}: entry size {entry.size} does not match its dtype")
        path = self.data_path(entry.shard_id)
        try:
            with self.storage.open(path) as fh:
                fh.seek(entry.offset)
                raw = fh.read(width)
        except FileNotFoundError:
            raise BundleError(f"data file {os.path.basename(path)} is missing") from None
        except OSError as exc:
            raise BundleError(f"cannot read {os.path.basename(path)}: {exc.strerror or exc}") from None
        if len(raw) != width:
            raise BundleError(f"data file {os.path.basename(path)} is truncated")
        return struct.unpack(fmt, raw)[0]


def read_bundle(prefix: str, storage: Any = LOCAL) -> Bundle:
    """Parse `<prefix>.index`; raises BundleError with a one-line reason."""
    index_path = prefix + ".index"
    try:
        size = storage.getsize(index_path)
        if size > _MAX_INDEX_BYTES:
            raise BundleError(f"index file is {size} bytes, too large for a checkpoint index")
        with storage.open(index_path) as fh:
            data = fh.read()
    except FileNotFoundError:
        raise BundleError(f"{os.path.basename(index_path)} is missing") from None
    except OSError as exc:
        raise BundleError(f"cannot read {os.path.basename(index_path)}: {exc.strerror or exc}") from None
    try:
        raw = dict(_iterate_table(data))
    except (ProtoError, IndexError, struct.error) as exc:
        raise BundleError(f"index file is corrupt ({exc})") from None
    header = raw.pop(b"", None)
    num_shards = 1
    if header is not None:
        try:
            num_shards = first_int(parse_message(header), 1, 1)
        except ProtoError as exc:
            raise BundleError(f"bundle header is corrupt ({exc})") from None
        if num_shards < 1:
            raise BundleError("bundle header declares no data shards")
    entries: dict[str, Entry] = {}
    for key, value in raw.items():
        try:
            entries[key.decode("utf-8", "replace")] = _parse_entry(value)
        except ProtoError as exc:
            raise BundleError(f"entry {key[:80]!r} is corrupt ({exc})") from None
    return Bundle(prefix=prefix, num_shards=num_shards, entries=entries, storage=storage)


def _parse_entry(value: bytes) -> Entry:
    fields = parse_message(value)
    shape: tuple[int, ...] = ()
    shape_msg = first_bytes(fields, 2, b"")
    if shape_msg:
        dims = []
        for dim in parse_message(shape_msg).get(2, []):
            dims.append(signed64(first_int(parse_message(dim), 1, 0)))
        shape = tuple(dims)
    return Entry(
        dtype=first_int(fields, 1, 0),
        shape=shape,
        shard_id=first_int(fields, 3, 0),
        offset=signed64(first_int(fields, 4, 0)),
        size=signed64(first_int(fields, 5, 0)),
        sliced=bool(fields.get(7)),
    )


# --------------------------------------------------------------------------- SSTable


def _iterate_table(data: bytes):
    """Yield (key, value) for every entry of an SSTable held in memory."""
    if len(data) < _FOOTER:
        raise BundleError("index file is truncated (shorter than the table footer)")
    footer = data[-_FOOTER:]
    if struct.unpack("<Q", footer[-8:])[0] != _MAGIC:
        raise BundleError("index file is truncated or not a TensorFlow checkpoint index (bad magic)")
    pos = 0
    _meta_offset, pos = read_varint(footer, pos)
    _meta_size, pos = read_varint(footer, pos)
    index_offset, pos = read_varint(footer, pos)
    index_size, pos = read_varint(footer, pos)
    index_block = _read_block(data, index_offset, index_size)
    for _, handle in _iterate_block(index_block):
        offset, p = read_varint(handle, 0)
        size, _ = read_varint(handle, p)
        yield from _iterate_block(_read_block(data, offset, size))


def _read_block(data: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if offset < 0 or size < 0 or end + 5 > len(data) - _FOOTER:
        raise BundleError("index block points past the end of the file (truncated?)")
    block = data[offset:end]
    kind = data[end]
    if kind == 0:
        return block
    if kind == 1:
        return _snappy_decompress(block)
    raise BundleError(f"index block uses unknown compression type {kind}")


def _iterate_block(block: bytes):
    if len(block) < 4:
        raise BundleError("index block is too short")
    num_restarts = struct.unpack("<I", block[-4:])[0]
    limit = len(block) - 4 * (num_restarts + 1)
    if limit < 0:
        raise BundleError("index block restart array is corrupt")
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = read_varint(block, pos)
        non_shared, pos = read_varint(block, pos)
        value_len, pos = read_varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise BundleError("index block entry is corrupt")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _snappy_decompress(src: bytes) -> bytes:
    """Raw snappy (TF's optional table compression); a few lines, so no dependency."""
    length, pos = read_varint(src, 0)
    out = bytearray()
    while pos < len(src):
        tag = src[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(src[pos:pos + extra], "little")
                pos += extra
            n += 1
            out += src[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | src[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            offset = int.from_bytes(src[pos:pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            offset = int.from_bytes(src[pos:pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise BundleError("corrupt snappy block")
        for _ in range(n):
            out.append(out[-offset])
    if len(out) != length:
        raise BundleError("corrupt snappy block (length mismatch)")
    return bytes(out)


def parse_state_file(path: str, storage: Any = LOCAL) -> tuple[str | None, list[str]]:
    """Read a `checkpoint` text-proto state file: (latest prefix, all prefixes in save order)."""
    latest = None
    prefixes: list[str] = []
    with storage.open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].encode("latin-1", "replace").decode("unicode_escape", "replace")
            else:
                continue
            name = name.strip()
            if name == "model_checkpoint_path":
                latest = value
            elif name == "all_model_checkpoint_paths":
                prefixes.append(value)
    if latest and latest not in prefixes:
        prefixes.append(latest)
    return latest, prefixes
