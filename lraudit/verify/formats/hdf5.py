"""HDF5 access for the Keras formats: open lazily, read single datasets by path.

h5py is imported inside the functions so that `import lraudit.cli` stays light.  Only the
handful of scalar datasets verify needs are read; h5py resolves a path through the file's
B-tree, so the cost does not grow with the number or the size of the model's weights.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lraudit.verify.formats.errors import MissingDependency, ReaderError
from lraudit.verify.storage import NeedBytes, SizedReader
from lraudit.verify.model import CheckpointInfo

_MAX_JSON_ATTR = 64 * 1024 * 1024


def h5py_module():
    try:
        import h5py  # noqa: PLC0415 - deliberately lazy
    except ImportError:
        raise MissingDependency(
            "reading HDF5 checkpoints needs h5py: pip install 'lraudit[verify]'"
        ) from None
    return h5py


_H5_DETAIL = re.compile(r"\(([^()]*)\)\s*$")


def _raised_in_h5py(exc: BaseException) -> bool:
    """Whether the innermost frame of `exc` is h5py's: HDF5 reports a corrupt object header,
    heap or B-tree as RuntimeError, KeyError, OSError or ValueError from wherever the file is
    touched (`name in group`, `group[name]`, `.attrs`), not only from File()."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return "h5py" in tb.tb_frame.f_code.co_filename


class _OpenH5:
    """An open h5py.File whose with-block turns HDF5's own errors into ReaderError, so a file
    damaged past its superblock is LRV008 with HDF5's reason, not a reader bug."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def __enter__(self) -> Any:
        return self.file

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        try:
            self.file.close()
        except Exception:  # noqa: BLE001 - closing a corrupt file may fail too; nothing to keep
            pass
        if isinstance(exc, (RuntimeError, KeyError, OSError, ValueError, TypeError)) \
                and not isinstance(exc, (ReaderError, NeedBytes)) and _raised_in_h5py(exc):
            text = str(exc.args[0] if exc.args else exc)
            detail = _H5_DETAIL.search(text.splitlines()[0] if text else "")
            raise ReaderError(f"HDF5 structure is corrupt ({detail.group(1) if detail else text[:120]})") from None
        return False


def open_h5(source: Any) -> _OpenH5:
    """Open a path or a binary file object read-only, for a with-block; ReaderError with the
    reason on failure, when opening or (for HDF5's own errors) inside the block."""
    h5py = h5py_module()
    try:
        return _OpenH5(h5py.File(source, "r"))
    except (OSError, ValueError) as exc:
        text = str(exc)
        if "truncated" in text.lower() or "eof" in text.lower():
            reason = "HDF5 file is truncated (an interrupted save?)"
        elif "signature" in text.lower() or "not an hdf5" in text.lower():
            reason = "not an HDF5 file (file signature not found)"
        else:
            reason = f"cannot open as HDF5 ({text.splitlines()[0] if text else type(exc).__name__})"
        raise ReaderError(reason) from None


def child(group: Any, path: str, where: str = "") -> Any:
    """`group.get(path)`, refusing to follow an external link (HDF5 would open whatever file
    it names: a FIFO there blocks verify forever, and lraudit reads nothing outside the
    checkpoint).  Soft links stay inside the file and are followed."""
    h5py = h5py_module()
    node = group
    done = ""
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if isinstance(link, h5py.ExternalLink):
            raise ReaderError(f"{where}{done}{part} is an external link to {link.filename!r}: "
                              "lraudit reads nothing outside the checkpoint")
        node = node.get(part)
        done += part + "/"
    return node


def scalar(dataset: Any, what: str) -> Any:
    """Read a scalar dataset; ReaderError when it is not one (a layout we do not understand)."""
    h5py = h5py_module()
    if not isinstance(dataset, h5py.Dataset):
        raise ReaderError(f"{what} is not a dataset")
    if dataset.shape not in ((), (1,)):
        raise ReaderError(f"{what} has shape {dataset.shape}, expected a scalar")
    plist = dataset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL or plist.get_external_count():
        # the value lives in another file, which HDF5 would open (see child())
        raise ReaderError(f"{what} keeps its value in another file: lraudit reads nothing outside the checkpoint")
    try:
        value = dataset[()]
    except (OSError, ValueError) as exc:
        raise ReaderError(f"cannot read {what} ({exc})") from None
    if getattr(value, "shape", ()) == (1,):
        value = value[0]
    return value.item() if hasattr(value, "item") else value


def is_int_scalar(dataset: Any) -> bool:
    return dataset.shape in ((), (1,)) and dataset.dtype.kind in "iu"


def is_float_scalar(dataset: Any) -> bool:
    return dataset.shape in ((), (1,)) and dataset.dtype.kind == "f"


def text_attr(attrs: Any, name: str) -> str | None:
    if name not in attrs:
        return None
    value = attrs[name]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_attr(attrs: Any, name: str) -> Any:
    text = text_attr(attrs, name)
    if text is None:
        return None
    if len(text) > _MAX_JSON_ATTR:
        raise ReaderError(f"attribute {name} is too large to be a Keras config")
    return load_json(text, f"attribute {name}")


def load_json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        raise ReaderError(f"{what} is {reason}") from None


def read_keras3_optimizer(f: Any, info: CheckpointInfo, lr_in_vars: bool | None, where: str = "") -> None:
    """Read step counter and float LR from the Keras 3 weights layout (`optimizer/vars/N`).

    `lr_in_vars`: True when the config says the LR is a float and Keras 3 wrote the file (then
    `vars/1` is the LR variable), False when it is not there (schedule, or a tf-keras writer),
    None when unknown (weights-only files carry no config): then a float32 scalar `vars/1` is
    taken as the LR, because a slot variable has the shape of a model weight.
    """
    h5py = h5py_module()
    group = child(f, "optimizer", where)
    if group is None:
        info.has_optimizer = False
        return
    if not isinstance(group, h5py.Group):
        raise ReaderError(f"{where}optimizer is not an HDF5 group")
    if "inner_optimizer" in group:
        # LossScaleOptimizer: its own vars/0 is a counter that stays 0; the inner one counts.
        info.mixed_precision = True
        group = child(group, "inner_optimizer", f"{where}optimizer/")
        where = f"{where}optimizer/inner_optimizer/"
    else:
        where = f"{where}optimizer/"
    variables = child(group, "vars", where) if isinstance(group, h5py.Group) else None
    if not isinstance(variables, h5py.Group) or "0" not in variables:
        info.has_optimizer = False
        info.notes.append("the optimizer group holds no variables")
        return
    counter = child(variables, "0", f"{where}vars/")
    if not isinstance(counter, h5py.Dataset) or not is_int_scalar(counter):
        raise ReaderError(f"{where}vars/0 is not the integer step counter")
    info.step = int(scalar(counter, f"{where}vars/0"))
    info.has_optimizer = True
    if lr_in_vars is False or "1" not in variables:
        return
    candidate = child(variables, "1", f"{where}vars/")
    if not isinstance(candidate, h5py.Dataset) or not is_float_scalar(candidate):
        return
    info.lr = float(scalar(candidate, f"{where}vars/1"))
    info.lr_source = f"{where}vars/1"
    if lr_in_vars is None:
        info.lr_heuristic = True
        if info.lr_kind == "unknown":
            info.lr_kind = "float"


class SubFile(SizedReader):
    """A read-only window [start, start+size) of an open binary file.

    Lets h5py open a `.keras` archive's stored (uncompressed) `model.weights.h5` member in place:
    no extraction, no copy into memory, and h5py's seeks stay O(1) whatever the member's size.
    """

    def __init__(self, raw: Any, start: int, size: int) -> None:
        super().__init__(size)
        self._raw = raw
        self._start = start

    def _fill(self, view: memoryview, pos: int) -> int:
        self._raw.seek(self._start + pos)
        return self._raw.readinto(view) or 0
