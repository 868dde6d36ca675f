"""Rebuild ``files/`` from the accuracy manifests.

The benchmark labels third-party training scripts that we may not commit, so
the repository keeps only the manifests (repo, path, commit) and this script
puts the exact text back: from local git mirrors when they are at hand (fast,
offline, byte-exact), otherwise from raw.githubusercontent.com at the pinned
commit.  Each file that cannot be had gets one line on stderr; the run goes on.

    python benchmarks/accuracy/fetch.py                    # download
    python benchmarks/accuracy/fetch.py --mirror /work/.mirror
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class Entry:
    """One labelled script: where it lives upstream and where it goes here."""

    repo: str
    path: str
    commit: str

    @property
    def local_name(self) -> str:
        """``owner+name/path``: flat per repository, the layout score.py reads."""
        return f"{self.repo.replace('/', '+')}/{self.path}"


def read_rows(pattern: str, build: Callable[[dict], T]) -> list[T]:
    """`build(row)` for each row of the manifests matching ``pattern``; the first row for a
    repo/path wins.  A bad line is reported and skipped rather than aborting, so one typo in a
    manifest does not block the rest.  (score.py reads the manifests through this too.)"""
    items: dict[tuple[str, str], T] = {}
    for manifest in sorted(glob.glob(pattern)):
        for number, line in enumerate(Path(manifest).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                items.setdefault((row["repo"], row["path"]), build(row))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{manifest}:{number}: unreadable manifest line ({exc})", file=sys.stderr)
    return list(items.values())


def read_manifests(pattern: str) -> list[Entry]:
    """All entries of the manifests matching ``pattern``, first occurrence wins."""
    return read_rows(pattern, lambda row: Entry(row["repo"], row["path"], row["commit"]))


def mirror_git_dir(mirror: Path, repo: str) -> Path | None:
    """The git directory of ``repo`` under ``mirror``, in any of the usual layouts.

    Mirrors come as bare ``owner+name`` dirs, or as ``owner+name/repo`` (bare or
    with a ``.git`` inside); accept all of them instead of forcing one.
    """
    base = mirror / repo.replace("/", "+")
    for candidate in (
        base,
        base / "repo",
        base / "repo" / ".git",
        base / ".git",
        Path(f"{base}.git"),
    ):
        if (candidate / "objects").is_dir() and (candidate / "HEAD").exists():
            return candidate
    return None


def from_mirror(git_dir: Path, entry: Entry) -> bytes:
    """The file's bytes at the pinned commit, straight from git (no re-encoding)."""
    result = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{entry.commit}:{entry.path}"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(
            message[-1] if message else f"git show exited {result.returncode}"
        )
    return result.stdout


def from_github(entry: Entry, timeout: float) -> bytes:
    """The file's bytes from raw.githubusercontent.com at the pinned commit."""
    url = RAW_URL.format(
        repo=entry.repo, commit=entry.commit, path=urllib.request.quote(entry.path)
    )
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def fetch_one(
    entry: Entry, dest_root: Path, mirror: Path | None, timeout: float, force: bool
) -> str:
    """Put one file in place and say what happened, as a short status word."""
    dest = dest_root / entry.local_name
    # Each repository's folder is marked as a repository root (an empty `.git`), as a clone
    # would be: lraudit looks for dependency pins up to the repository root, and without the
    # mark it would walk up into this project and read lraudit's own pins as the script's.
    (dest_root / entry.repo.replace("/", "+") / ".git").mkdir(parents=True, exist_ok=True)
    if dest.exists() and not force:
        return "present"
    if mirror is not None:
        git_dir = mirror_git_dir(mirror, entry.repo)
        if git_dir is None:
            raise RuntimeError(f"no mirror of {entry.repo} under {mirror}")
        data = from_mirror(git_dir, entry)
    else:
        data = from_github(entry, timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return "fetched"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest",
        default=str(HERE / "manifest*.jsonl"),
        help="glob of manifest files (default: manifest*.jsonl next to this script)",
    )
    parser.add_argument(
        "--mirror", type=Path, help="folder of git mirrors named owner+name"
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=HERE / "files",
        help="where the files go (default: files/)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per download"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files that are already present"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    entries = read_manifests(args.manifest)
    if not entries:
        print(f"no manifest entries match {args.manifest}", file=sys.stderr)
        return 1
    counts = {"fetched": 0, "present": 0, "failed": 0}
    for entry in entries:
        try:
            status = fetch_one(entry, args.dest, args.mirror, args.timeout, args.force)
        except (OSError, RuntimeError, urllib.error.URLError, ValueError) as exc:
            counts["failed"] += 1
            reason = (
                str(exc).strip().splitlines()[0]
                if str(exc).strip()
                else type(exc).__name__
            )
            print(
                f"{entry.repo}/{entry.path}@{entry.commit[:10]}: cannot fetch: {reason}",
                file=sys.stderr,
            )
            continue
        counts[status] += 1
        if status == "present":
            print(f"{entry.local_name}: already present, kept (use --force to refetch)")
    print(
        f"{counts['fetched']} fetched, {counts['present']} already present, {counts['failed']} failed "
        f"({len(entries)} files in the manifests)"
    )
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
