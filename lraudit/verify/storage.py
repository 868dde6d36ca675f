"""Where checkpoints live: the local filesystem, or object storage through fsspec.

Discovery and the format readers never call `os` or `open` directly; they go through a storage
object with the same small vocabulary (exists/isdir/isfile/walk/listdir/getsize/mtime/open and a
`path` module).  Two implementations:

* `LocalStorage` (a plain path): the `os` functions themselves, so local behaviour is exactly
  what it was and fsspec is never imported.
* `RemoteStorage` (a URL with a scheme: `s3://`, `gs://`, `az://`, `memory://`, `file://`, or
  any protocol fsspec knows): one recursive listing of the target answers every question about
  names and sizes, and files open as seekable objects that fetch only the byte ranges a reader
  touches, in aligned blocks.  A `.keras`/HDF5/TF checkpoint of 1 GB then costs the same few
  requests as one of 1 MB: the zip's central directory, the HDF5 superblock and the handful of
  optimizer objects, the TF index and one scalar's range.

Why blocks are fetched outside h5py: h5py holds one global lock for every call, including the
Python callbacks that read a file object, so a network read made from inside h5py would stop
every other thread's HDF5 work.  A checkpoint is therefore read in rounds (`read_in_rounds`):
each round runs the reader on cached blocks only, and a block it lacks aborts the round and is
fetched afterwards, with no lock held, so `--jobs` threads overlap their network waits.

Credentials come from each filesystem's usual environment and config files (for S3: the AWS
variables, profiles, instance roles); lraudit never prints or stores them.  Every request has a
timeout (LRAUDIT_REMOTE_TIMEOUT seconds, default 30) and retries are bounded, so an unreachable
or stalled endpoint ends the command with one line and exit code 2 instead of hanging.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import io
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from lraudit.verify import model as m

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
BLOCK_SIZE = 16 * 1024          # see benchmarks/README.md, "verify remote": 16 KiB keeps both
                                # the bytes and the number of round trips per checkpoint small
MAX_ROUNDS = 64                 # rounds of read_in_rounds before falling back to plain reads
DEFAULT_TIMEOUT = 30.0
REMOTE_EXTRA = "pip install 'lraudit[remote]'"
# protocols whose every request gets a connect and a read timeout from _options
_TIMED_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
# protocol -> the package fsspec needs for it, for the message when it is missing
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
             "abfs": "adlfs", "abfss": "adlfs", "adl": "adlfs"}


class TargetError(Exception):
    """The target itself cannot be used: missing, unreadable, or not a checkpoint."""


class StorageError(TargetError):
    """The storage cannot be reached or used: no credentials, no such bucket, access denied on
    the target, a network failure or a timeout.  Never about one checkpoint's content, so it
    ends the whole command (exit 2) instead of marking checkpoints unreadable."""


class NeedBytes(OSError):
    """Raised inside a reading round when a block is not cached yet (see read_in_rounds)."""


def is_url(target: str) -> bool:
    """A target with a scheme (`s3://...`) is remote; anything else is a local path."""
    return bool(_SCHEME.match(target))


@dataclass
class Stats:
    """Range requests and bytes fetched, for the benchmark and the tests' size assertions."""

    requests: int = 0
    bytes: int = 0

    def add(self, requests: int, nbytes: int) -> None:
        self.requests += requests
        self.bytes += nbytes


def default_jobs(storage: Any) -> int:
    """Reads in flight at once: a local checkpoint reads in under a millisecond, so threads
    only add overhead; a remote one waits on round trips, which threads overlap."""
    return 16 if getattr(storage, "remote", False) else 1


# ----------------------------------------------------------------------------- local


class LocalStorage:
    """The local filesystem through `os`: what discovery and the readers always did."""

    remote = False
    url = None
    path = os.path

    def resolve(self, target: str) -> str:
        return os.path.abspath(target)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def access(self, path: str, mode: int) -> bool:
        return os.access(path, mode)

    def walk(self, top: str, onerror: Callable[[OSError], Any] | None = None):
        return os.walk(top, onerror=onerror)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def getsize(self, path: str) -> int:
        return os.path.getsize(path)

    def mtime(self, path: str) -> float:
        return os.stat(path).st_mtime

    def open(self, path: str):
        """Open for reading; a FIFO, socket or device is refused with OSError, never read: a
        FIFO named `ckpt-9.index` with no writer would block verify forever."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
                raise OSError(errno.EINVAL, f"not a regular file ({kind})", path)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def h5_source(self, path: str) -> Any:
        """What h5py.File opens: the path itself (HDF5's own file driver, no Python I/O)."""
        return path

    def session(self) -> "LocalStorage":
        return self


LOCAL = LocalStorage()


# ----------------------------------------------------------------------------- remote paths


class RemotePath:
    """`os.path` for fsspec paths (`bucket/dir/file`, `/dir/file` for memory://): POSIX rules,
    every path absolute within its filesystem, URLs of the same filesystem accepted."""

    sep = "/"
    join = staticmethod(posixpath.join)
    dirname = staticmethod(posixpath.dirname)
    basename = staticmethod(posixpath.basename)

    def __init__(self, strip: Callable[[str], str]) -> None:
        self._strip = strip

    def normpath(self, path: str) -> str:
        if is_url(path):
            path = self._strip(path)
        return posixpath.normpath(path)

    def isabs(self, path: str) -> bool:
        return path.startswith("/") or is_url(path)

    def abspath(self, path: str) -> str:
        return path

    def relpath(self, path: str, start: str) -> str:
        return posixpath.relpath("/" + path.lstrip("/"), "/" + start.lstrip("/"))


# ----------------------------------------------------------------------------- error mapping

_CREDENTIAL_ERRORS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                      "DefaultCredentialsError", "RefreshError", "ClientAuthenticationError",
                      "CredentialUnavailableError", "NoAuthTokenError"}
_TIMEOUT_ERRORS = {"TimeoutError", "FSTimeoutError", "ReadTimeoutError", "ConnectTimeoutError",
                   "ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError",
                   "ReadTimeout", "ConnectTimeout"}
_NETWORK_ERRORS = {"ConnectionError", "EndpointConnectionError", "ConnectionClosedError",
                   "ClientConnectionError", "ClientConnectorError", "ServerDisconnectedError",
                   "ClientPayloadError", "ClientOSError", "ProxyConnectionError", "HTTPClientError",
                   "IncompleteRead", "IncompleteReadError", "ServiceRequestError",
                   "ServiceResponseError", "ResponseStreamingError", "gaierror"}


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def classify(exc: BaseException, protocol: str, what: str) -> BaseException:
    """Turn whatever a filesystem raised into StorageError (the storage is unusable: stop) or an
    OSError with a short strerror (this one object is missing or forbidden).  `what` names the
    object for the message; credentials never appear in any of these messages."""
    if isinstance(exc, (StorageError, NeedBytes)):
        return exc
    names = _names(exc)
    if names & _CREDENTIAL_ERRORS:
        return StorageError(f"no credentials for {protocol}:// ({_first_line(exc)}); "
                            f"{_credential_hint(protocol)}")
    if names & _TIMEOUT_ERRORS or isinstance(exc, TimeoutError):
        return StorageError(f"network failure: a request for {what} timed out "
                            f"(LRAUDIT_REMOTE_TIMEOUT={_timeout():g}s)")
    if names & _NETWORK_ERRORS or isinstance(exc, ConnectionError):
        return StorageError(f"network failure while reading {what} ({_first_line(exc)})")
    if isinstance(exc, FileNotFoundError):
        text = str(exc).lower()
        if ("bucket" in text or "container" in text) and ("not exist" in text or "not found" in text):
            noun = "container" if protocol in ("az", "abfs", "abfss", "adl") else "bucket"
            return StorageError(f"no such {noun} ({_first_line(exc)})")
        return FileNotFoundError(errno.ENOENT, "no such object", what)
    if isinstance(exc, PermissionError):
        return PermissionError(errno.EACCES, "access denied", what)
    if isinstance(exc, OSError):
        return OSError(exc.errno or errno.EIO, _first_line(exc), what)
    return OSError(errno.EIO, f"{type(exc).__name__}: {_first_line(exc)}", what)


def _credential_hint(protocol: str) -> str:
    if protocol in ("s3", "s3a"):
        return ("configure them as for the AWS CLI (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or an instance role)")
    if protocol in ("gs", "gcs"):
        return "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
    if protocol in _PACKAGES:
        return "set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME with a key or SAS"
    return "configure the filesystem's credentials"


def _timeout() -> float:
    try:
        value = float(os.environ.get("LRAUDIT_REMOTE_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


# ----------------------------------------------------------------------------- opening


def open_target(target: str, jobs: int = 16) -> "LocalStorage | RemoteStorage":
    """The storage a target lives on.  A local path never imports fsspec; a URL needs the
    `remote` extra and raises TargetError with the pip command when it is missing."""
    match = _SCHEME.match(target)
    if not match:
        return LOCAL
    protocol = match.group(1).lower()
    try:
        import fsspec  # noqa: PLC0415 - the remote extra, loaded only for URLs
        import fsspec.core  # noqa: PLC0415
    except ImportError:
        raise TargetError(f"reading {protocol}:// targets needs fsspec"
                          f"{' and ' + _PACKAGES[protocol] if protocol in _PACKAGES else ''}: "
                          f"{REMOTE_EXTRA}") from None
    timeout = _timeout()
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise TargetError(f"unknown storage protocol {protocol}:// (fsspec does not know it)") from None
    except ImportError as exc:
        package = _PACKAGES.get(protocol)
        if package:
            raise TargetError(f"reading {protocol}:// targets needs {package}: {REMOTE_EXTRA}") from None
        raise TargetError(f"reading {protocol}:// targets needs a package fsspec names: "
                          f"{_first_line(exc)}") from None
    options = _options(fsspec, cls, protocol, timeout, jobs)
    _quiet_library_logs()
    try:
        fs, root = fsspec.core.url_to_fs(target, skip_instance_cache=True, **options)
    except Exception as exc:  # noqa: BLE001 - filesystems raise anything on bad URLs/credentials
        error = classify(exc, protocol, target)
        if isinstance(error, StorageError):
            raise error from None
        if "credential" in str(exc).lower():
            raise StorageError(f"no credentials for {protocol}:// ({_first_line(exc)}); "
                               f"{_credential_hint(protocol)}") from None
        raise TargetError(f"cannot open the storage ({_first_line(exc)})") from None
    # One layer of retries, not two multiplied: botocore retries S3 requests (3 attempts, with
    # the standard mode's backoff), so s3fs's own loop makes one attempt.  (gcsfs fixes its
    # retries when its class is defined; the deadlines in RemoteStorage._call bound them.)
    if protocol in ("s3", "s3a") and hasattr(fs, "retries"):
        fs.retries = 1
    return RemoteStorage(fs, root, target, protocol, timeout)


def _quiet_library_logs() -> None:
    """Keep the storage libraries' own warnings and logged tracebacks (gcsfs logs each retry and
    `logger.exception`s the last) off stderr: with no handler configured, Python's last-resort
    handler would print them around lraudit's one-line message.  A NullHandler stops that and
    still lets records reach any handler the user configures on the root logger."""
    import logging  # noqa: PLC0415

    for name in ("fsspec", "s3fs", "aiobotocore", "botocore", "gcsfs", "google", "adlfs",
                 "azure", "urllib3", "aiohttp"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _options(fsspec: Any, cls: Any, protocol: str, timeout: float, jobs: int) -> dict[str, Any]:
    """Timeouts and bounded retries for the filesystems that have them, under whatever the user
    configured for fsspec (FSSPEC_<PROTOCOL>_* or fsspec's config file wins)."""
    ours: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        ours["config_kwargs"] = {"connect_timeout": min(timeout, 10.0), "read_timeout": timeout,
                                 "retries": {"max_attempts": 3, "mode": "standard"},
                                 "max_pool_connections": max(10, jobs)}
    elif protocol in ("gs", "gcs"):
        ours["requests_timeout"] = timeout
    elif protocol in ("az", "abfs", "abfss"):
        ours["connection_timeout"] = int(min(timeout, 10.0))
        ours["read_timeout"] = int(timeout)
    user: dict[str, Any] = {}
    names = cls.protocol if isinstance(cls.protocol, (tuple, list)) else (cls.protocol,)
    for name in (*names, protocol):
        user.update(fsspec.config.conf.get(name, {}))
    for key, value in list(ours.items()):
        if key in user:
            if isinstance(value, dict) and isinstance(user[key], dict):
                ours[key] = {**value, **user[key]}
            else:
                del ours[key]
    return ours


# ----------------------------------------------------------------------------- remote storage


class RemoteStorage:
    """A target in object storage, answered from one recursive listing where possible."""

    remote = True

    def __init__(self, fs: Any, root: str, url: str, protocol: str, timeout: float = DEFAULT_TIMEOUT,
                 block_size: int = BLOCK_SIZE) -> None:
        self.fs = fs
        self.root = root.rstrip("/") or root
        self.url = url
        self.protocol = protocol
        self.timeout = timeout
        self.block_size = block_size
        self.path = RemotePath(fs._strip_protocol)
        self.stats = Stats()                      # range requests and bytes, all files
        self.listings = 0                         # listing and metadata requests
        self.checkpoint_stats: dict[str, Stats] = {}   # candidate path -> its reading cost
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, Any]] = {}    # path -> {"size", "mtime"}
        self._dirs: set[str] = set()
        self._listed: set[str] = set()            # directories whose whole subtree is cached
        self._shallow: set[str] = set()           # directories whose own entries are cached

    # ------------------------------------------------------------------ calls

    def _call(self, name: str, *args: Any, what: str, long: bool = False, **kwargs: Any) -> Any:
        """One filesystem call with an overall deadline and the error mapping of classify().

        Async filesystems (s3fs, gcsfs, adlfs, http) run the coroutine with fsspec's `sync` and a
        deadline of three timeouts, which bounds a call whatever the library's own retries do.
        `long` calls (a paginated listing, a whole download) are bounded by the per-request
        timeouts of the protocols configured in _options, and by 20 timeouts elsewhere."""
        deadline = 3 * self.timeout
        if long:
            deadline = None if self.protocol in _TIMED_PROTOCOLS else 20 * self.timeout
        try:
            method = getattr(self.fs, "_" + name, None)
            if deadline and getattr(self.fs, "async_impl", False) and method is not None \
                    and getattr(self.fs, "loop", None) is not None:
                from fsspec.asyn import sync  # noqa: PLC0415

                return sync(self.fs.loop, method, *args, timeout=deadline, **kwargs)
            return getattr(self.fs, name)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classify() decides what it means
            raise classify(exc, self.protocol, what) from None

    def _url(self, path: str) -> str:
        """A path as the user would write it, for messages."""
        try:
            return self.fs.unstrip_protocol(path)
        except Exception:  # noqa: BLE001 - only for display
            return path

    # ------------------------------------------------------------------ names

    def resolve(self, target: str) -> str:
        return self.root

    def _remember(self, path: str, info: dict[str, Any]) -> None:
        path = path.rstrip("/")
        if not path:
            return
        if info.get("type") == "directory" or str(info.get("StorageClass", "")) == "DIRECTORY":
            self._dirs.add(path)
            return
        self._files[path] = {"size": int(info.get("size") or 0), "mtime": _info_mtime(info)}
        parent = posixpath.dirname(path)
        while parent and parent not in self._dirs and parent != path:
            self._dirs.add(parent)
            path, parent = parent, posixpath.dirname(parent)

    def _covered(self, path: str) -> bool:
        """Whether the cache knows for sure if `path` exists (no request needed)."""
        if posixpath.dirname(path.rstrip("/")) in self._shallow:
            return True
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self._listed)

    def _list_tree(self, top: str) -> None:
        """One recursive listing (paginated by the filesystem) of everything under `top`."""
        if self._covered(top):
            return
        with self._lock:
            self.listings += 1
        found = self._call("find", top, withdirs=True, detail=True, what=self._url(top),
                           long=True)
        top = top.rstrip("/") or top
        with self._lock:
            below = False
            for path, info in sorted(found.items()):
                if path.rstrip("/") == top:
                    if info.get("type") == "directory":
                        below = True
                    continue   # a file target lists as itself; info() describes it properly
                below = True
                self._remember(path, info)
            if below:
                self._dirs.add(top)
                self._listed.add(top)

    def _kind(self, path: str) -> str | None:
        path = path.rstrip("/") or path
        if path in self._files:
            return "file"
        if path in self._dirs:
            return "dir"
        if self._covered(path):
            return None
        try:
            if path == self.root:
                self._list_tree(path)
                if path in self._dirs:
                    return "dir"
            with self._lock:
                self.listings += 1
            info = self._call("info", path, what=self._url(path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if path != self.root:
                raise
            # the target itself: nothing else can be read, so this ends the command
            reason = exc.strerror or str(exc)
            if isinstance(exc, PermissionError):
                reason += "; the credentials in use may not list or read this location"
            raise StorageError(reason) from None
        with self._lock:
            self._remember(path, info)
        return "dir" if path in self._dirs else "file"

    def exists(self, path: str) -> bool:
        return self._kind(path) is not None

    def isdir(self, path: str) -> bool:
        return self._kind(path) == "dir"

    def isfile(self, path: str) -> bool:
        return self._kind(path) == "file"

    def access(self, path: str, mode: int) -> bool:
        return True   # object storage has no mode bits; a denied read reports itself

    def walk(self, top: str, onerror: Callable[[OSError], Any] | None = None) -> Iterator:
        """os.walk over the cached listing: top-down, honouring edits of `dirnames`."""
        top = top.rstrip("/") or top
        try:
            self._list_tree(top)
        except OSError as exc:
            if onerror is not None:
                exc.filename = top
                onerror(exc)
            return
        children: dict[str, tuple[list[str], list[str]]] = {}
        for path in self._dirs:
            if path != top and path.startswith(top.rstrip("/") + "/"):
                children.setdefault(posixpath.dirname(path), ([], []))[0].append(posixpath.basename(path))
        for path in self._files:
            if path.startswith(top.rstrip("/") + "/"):
                children.setdefault(posixpath.dirname(path), ([], []))[1].append(posixpath.basename(path))
        stack = [top]
        while stack:
            dirpath = stack.pop()
            dirnames, filenames = children.get(dirpath, ([], []))
            dirnames, filenames = sorted(dirnames), sorted(filenames)
            yield dirpath, dirnames, filenames
            stack.extend(posixpath.join(dirpath, d) for d in reversed(dirnames))

    def listdir(self, path: str) -> list[str]:
        path = path.rstrip("/") or path
        if not self._covered(path) and path not in self._shallow:
            with self._lock:
                self.listings += 1
            entries = self._call("ls", path, detail=True, what=self._url(path))
            with self._lock:
                for info in entries:
                    self._remember(info["name"], info)
                self._shallow.add(path)
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in (*self._files, *self._dirs)
                 if p.startswith(prefix)}
        return sorted(n for n in names if n)

    def getsize(self, path: str) -> int:
        if self._kind(path) != "file":
            raise FileNotFoundError(errno.ENOENT, "no such object", self._url(path))
        return self._files[path.rstrip("/")]["size"]

    def mtime(self, path: str) -> float:
        path = path.rstrip("/")
        if self._kind(path) == "file":
            return self._files[path]["mtime"]
        raise FileNotFoundError(errno.ENOENT, "no mtime for a prefix", self._url(path))

    # ------------------------------------------------------------------ content

    def open(self, path: str) -> "RemoteFile":
        return _Fetcher(self).open(path)

    def h5_source(self, path: str) -> "RemoteFile":
        return self.open(path)

    def session(self) -> "ReadSession":
        return ReadSession(self)

    def fetch(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of one object: one ranged request."""
        data = self._call("cat_file", path, start=start, end=end, what=self._url(path))
        with self._lock:
            self.stats.add(1, len(data))
        return data

    def download(self, path: str, local: str) -> None:
        """Copy one object to a local file (replay); bounded by the per-request timeouts."""
        self._call("get_file", path, local, what=self._url(path), long=True)
        with self._lock:
            self.stats.add(1, os.path.getsize(local))

    def files_under(self, top: str) -> list[str]:
        self._list_tree(top)
        prefix = top.rstrip("/") + "/"
        return sorted(p for p in self._files if p.startswith(prefix))


def _info_mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created", "timeCreated"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, _dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


# ----------------------------------------------------------------------------- reading


class _Fetcher:
    """Aligned-block cache for the files one reader opens; counts what it fetches.

    In strict mode a missing block is not fetched: it is recorded and NeedBytes is raised, so
    the caller can fetch it outside any lock (read_in_rounds)."""

    def __init__(self, storage: RemoteStorage, strict: bool = False) -> None:
        self.storage = storage
        self.block = storage.block_size
        self.strict = strict
        self.blocks: dict[tuple[str, int], bytes] = {}
        self.missing: list[tuple[str, int, int, int]] = []
        self.errors: dict[str, OSError] = {}     # objects a fetch between rounds could not read
        self.stats = Stats()

    def open(self, path: str) -> "RemoteFile":
        return RemoteFile(self, path, self.storage.getsize(path))

    def read(self, path: str, pos: int, n: int, size: int) -> bytes:
        if path in self.errors:
            error = self.errors[path]
            raise type(error)(error.errno, error.strerror, error.filename)
        first, last = pos // self.block, (pos + n - 1) // self.block
        absent = [i for i in range(first, last + 1) if (path, i) not in self.blocks]
        if absent:
            if self.strict:
                self.missing.append((path, absent[0], absent[-1], size))
                raise NeedBytes(errno.EAGAIN, "block not fetched yet", path)
            self._fetch(path, absent[0], absent[-1], size)
        data = b"".join(self.blocks[(path, i)] for i in range(first, last + 1))
        offset = pos - first * self.block
        return data[offset:offset + n]

    def _fetch(self, path: str, first: int, last: int, size: int) -> None:
        start, end = first * self.block, min((last + 1) * self.block, size)
        data = self.storage.fetch(path, start, end)
        self.stats.add(1, len(data))
        for i in range(first, last + 1):
            lo = (i - first) * self.block
            self.blocks[(path, i)] = data[lo:lo + self.block]

    def fetch_missing(self) -> None:
        """Fetch what the last round lacked.  An object that cannot be read (access denied,
        deleted since the listing) is remembered, so the next round's reader meets the error
        where it reads and reports this checkpoint as unreadable; StorageError propagates."""
        wanted, self.missing = self.missing, []
        for path, first, last, size in wanted:
            absent = [i for i in range(first, last + 1) if (path, i) not in self.blocks]
            if absent and path not in self.errors:
                try:
                    self._fetch(path, absent[0], absent[-1], size)
                except OSError as exc:
                    self.errors[path] = exc


class SizedReader(io.RawIOBase):
    """A read-only, seekable stream of known size; subclasses supply `_fill(view, pos)`.

    Shared by the remote objects below and by a `.keras` archive's stored weights member
    (formats.hdf5.SubFile): h5py and zipfile need seek/tell/read, and only where the bytes
    come from differs.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos

    def _fill(self, view: memoryview, pos: int) -> int:
        raise NotImplementedError

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        if n == 0:
            return 0
        got = self._fill(view[:n], self._pos) or 0
        self._pos += got
        return got

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        buf = bytearray(max(0, min(size, self._size - self._pos)))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def readall(self) -> bytes:
        return self.read(-1)


class RemoteFile(SizedReader):
    """A read-only, seekable view of one object, served from its fetcher's blocks."""

    def __init__(self, fetcher: _Fetcher, path: str, size: int) -> None:
        super().__init__(size)
        self._fetcher = fetcher
        self.name = path

    def _fill(self, view: memoryview, pos: int) -> int:
        data = self._fetcher.read(self.name, pos, len(view), self._size)
        view[:len(data)] = data
        return len(data)


class ReadSession:
    """The storage as one checkpoint's reader sees it: shared block cache, strict rounds."""

    remote = True

    def __init__(self, storage: RemoteStorage) -> None:
        self.storage = storage
        self.fetcher = _Fetcher(storage, strict=True)
        self.path = storage.path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def open(self, path: str) -> RemoteFile:
        return self.fetcher.open(path)

    def h5_source(self, path: str) -> RemoteFile:
        return self.fetcher.open(path)

    def session(self) -> "ReadSession":
        return self


def read_in_rounds(storage: Any, read: Callable[[Any], Any], key: str) -> Any:
    """Run `read(session)` until it completes on cached blocks alone.

    Each round that stops at a missing block (NeedBytes, however the reader reported it) fetches
    that block with no lock held and starts again; the readers are pure functions of the bytes,
    so a repeated round costs only CPU.  After MAX_ROUNDS the last round reads normally.
    Local storage reads once, directly.
    """
    if not getattr(storage, "remote", False):
        return read(storage)
    session = storage.session()
    fetcher = session.fetcher
    result = None
    for _ in range(MAX_ROUNDS):
        result = read(session)
        if not fetcher.missing:
            break
        fetcher.fetch_missing()
    else:
        fetcher.strict = False
        result = read(session)
    with storage._lock:
        storage.checkpoint_stats[key] = fetcher.stats
    return result


# ----------------------------------------------------------------------------- replay


def checkpoint_files(storage: Any, candidate: m.Candidate) -> tuple[list[tuple[str, str]], str]:
    """The files that make up one checkpoint, as (storage path, path relative to a local copy),
    and the relative path that names the checkpoint in that copy."""
    p = storage.path
    path = candidate.path
    name = p.basename(path.rstrip("/"))
    kind = candidate.kind
    if kind in (m.SAVED_MODEL, m.KERAS_DIR):
        files = [(f, name + "/" + p.relpath(f, path)) for f in _files_under(storage, path)]
        return files, name
    directory = p.dirname(path)
    if kind in (m.TF_CHECKPOINT, m.BACKUP_K2):
        siblings = storage.listdir(directory)
        wanted = [f for f in siblings if f == name + ".index"
                  or re.fullmatch(re.escape(name) + r"\.data-\d{5}-of-\d{5}", f)]
        return [(p.join(directory, f), f) for f in wanted], name
    if kind == m.WEIGHTS_SHARDED:
        stem = name[: -len(".weights.json")]
        shard = re.compile(re.escape(stem) + r"_\d+\.weights\.h5")
        wanted = [name] + [f for f in storage.listdir(directory) if shard.fullmatch(f)]
        return [(p.join(directory, f), f) for f in wanted], name
    if kind == m.BACKUP_K3:
        files = [(path, name)]
        if candidate.metadata_path and storage.isfile(candidate.metadata_path):
            files.append((candidate.metadata_path, p.basename(candidate.metadata_path)))
        return files, name
    if kind in (m.KERAS, m.WEIGHTS_H5, m.LEGACY_H5, m.H5_WEIGHTS_K2):
        return [(path, name)], name
    raise TargetError(f"{candidate.display}: cannot copy a checkpoint of kind {kind!r}")


def _files_under(storage: Any, top: str) -> list[str]:
    if getattr(storage, "remote", False):
        return storage.files_under(top)
    found = []
    for dirpath, _dirnames, filenames in os.walk(top):
        found.extend(os.path.join(dirpath, f) for f in filenames)
    return sorted(found)


@contextlib.contextmanager
def fetch_local(storage: Any, candidate: m.Candidate) -> Iterator[str]:
    """A local path for one checkpoint, for code that needs real files (Keras in replay).

    Local storage yields the checkpoint's own path (nothing is copied, nothing written next to
    it).  Remote storage downloads exactly that checkpoint's files (a .keras or .h5 file, a TF
    prefix's .index and .data-* shards, a SavedModel or unzipped .keras directory, a backup's
    weights and metadata) into a new private directory (mode 0700, from tempfile.mkdtemp) and
    removes the directory when the block ends, also on error.  Never the rest of the run.
    """
    if not getattr(storage, "remote", False):
        yield candidate.path
        return
    files, name = checkpoint_files(storage, candidate)
    if not files:
        raise TargetError(f"{candidate.display}: the checkpoint's files are missing")
    workdir = tempfile.mkdtemp(prefix="lraudit-replay-")
    try:
        os.chmod(workdir, 0o700)
        for remote, relative in files:
            local = os.path.normpath(os.path.join(workdir, *relative.split("/")))
            if not local.startswith(workdir + os.sep):
                raise TargetError(f"{candidate.display}: refusing an object name outside the "
                                  f"checkpoint ({relative!r})")
            os.makedirs(os.path.dirname(local), mode=0o700, exist_ok=True)
            storage.download(remote, local)
        yield os.path.join(workdir, *name.split("/"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
