"""Why lraudit reads a load as a resume, and how sure it is.

A restore that continues a previous run (a resume) makes the resume hazards real; a warm start
from pre-trained weights does not (`ModuleFacts.is_resume` and the interpreter's `fine_tune`
evidence rule those out).  Between the two lies a load that nothing in the file explains.
Severity follows the evidence: a hazard on a proven resume keeps the rule's severity, on a load
nothing explains it is at most a warning, and every message says in a few words which it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lraudit.findings import Severity
from lraudit.scan.literals import argument, literal_value, option_name, source_of
from lraudit.scan.model import MANAGER, Event, ModuleFacts

_RESUME_WORDS = re.compile(r"resum|continu|restart|latest|last[-_./]|[-_/]last\b|checkpoint|ckpt",
                           re.IGNORECASE)
_RESUME_SCOPE = re.compile(r"resum|restore|continu|load_checkpoint|load_ckpt", re.IGNORECASE)
_FORMAT_FIELD = re.compile(r"\{[^}]*\}|%[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")


@dataclass(frozen=True)
class Evidence:
    """`proven`: the file itself says this load continues a run; `reason`: what it said."""

    proven: bool
    reason: str

    def cap(self, severity: Severity) -> Severity:
        """The rule's severity on a proven resume; at most a warning otherwise."""
        return severity if self.proven else min(severity, Severity.WARNING)

    def sentence(self, restore: Event) -> str:
        what = _describe(restore)
        if self.proven:
            return f" lraudit reads {what} as a resume: {self.reason}."
        return (f" lraudit reads {what} as a resume because {self.reason}; if it is a warm start "
                "from other weights, this does not apply.")


def _describe(restore: Event) -> str:
    return {"load_model": "`load_model()`", "load_weights": "`load_weights()`",
            "checkpoint": "`Checkpoint.restore()`", "backup": "`BackupAndRestore`"}.get(
                restore.detail.get("source", ""), "the restore")


def _template(path: str) -> str:
    return _FORMAT_FIELD.sub("*", path.replace("\\", "/")).lstrip("./")


def _path_source(event: Event) -> str:
    """The text of the call's path argument (`args.ckpt`, `os.path.join(d, name)`)."""
    call = event.call
    arg = argument(call, "filepath", 0) if call is not None else None
    return " ".join(source_of(arg.value).split()) if arg is not None else ""


def _written_paths(facts: ModuleFacts) -> dict[str, str]:
    """Each path this module writes checkpoints to -> what writes it: the resolved text as a
    template (`ckpt/ep*.keras`), and the expression itself (`args.ckpt`), so that the same
    expression at the save and at the load is the same file."""
    memo = facts.memo.get("written_paths")
    if memo is not None:
        return memo
    writers = [(save, f"`{save.detail.get('source', 'save')}()`") for save in facts.of_kind("save")]
    writers += [(create, f"`{str(create.detail['api']).rsplit('.', 1)[-1]}`") for create in facts.of_kind("create")
                if str(create.detail.get("api", "")).endswith(("ModelCheckpoint", "BackupAndRestore"))]
    out: dict[str, str] = {}
    for event, writer in writers:
        for key in (_template(event.detail["path"]) if event.detail.get("path") else "", _path_source(event)):
            if key:
                out.setdefault(key, writer)
    facts.memo["written_paths"] = out
    return out


def _sets_initial_epoch(facts: ModuleFacts) -> bool:
    for train in facts.of_kind("train"):
        call = train.call
        arg = argument(call, "initial_epoch") if call is not None else None
        if arg is not None and literal_value(arg.value) != 0:
            return True
    return False


def resume_evidence(facts: ModuleFacts, restore: Event) -> Evidence:
    """What, in this file, says that `restore` continues a previous run."""
    memo = facts.memo.setdefault("resume_evidence", {})
    if restore.index in memo:
        return memo[restore.index]
    memo[restore.index] = found = _evidence(facts, restore)
    return found


def _evidence(facts: ModuleFacts, restore: Event) -> Evidence:
    source = restore.detail.get("source")
    path = restore.detail.get("path")
    if source == "backup":
        return Evidence(True, "`BackupAndRestore` restores the interrupted run")
    if path == "<latest>":
        return Evidence(True, "it loads the latest checkpoint")
    if source == "checkpoint" and any(
            restore.objs.get(i) is not None and restore.objs[i].kind == MANAGER
            for i in restore.detail.get("checkpoint") or ()):
        return Evidence(True, "it restores a `CheckpointManager`'s checkpoint")
    call = restore.call
    raw = source_of(call.args[0].value) if call is not None and call.args else ""
    if source == "checkpoint" and "latest" in raw:
        return Evidence(True, "it restores the latest checkpoint")
    written = _written_paths(facts)
    writer = (written.get(_template(path)) if path else None) or written.get(" ".join(raw.split()))
    if writer is not None:
        return Evidence(True, f"it reads back what this script's {writer} writes")
    if restore.conditional:
        return Evidence(True, "it runs only when a saved checkpoint exists")
    option = option_name(raw)
    help_text = facts.option_help.get(option, "") if option else ""
    if _RESUME_WORDS.search(help_text):
        return Evidence(True, f"its option's help says \"{help_text.strip()}\"")
    for guard in restore.guards:
        if _RESUME_WORDS.search(guard):
            return Evidence(True, f"it runs under `if {guard.strip()}`")
    if _RESUME_WORDS.search(path or "") or _RESUME_WORDS.search(raw):
        return Evidence(True, f"its path `{path or raw}` names a checkpoint of a run")
    if _RESUME_SCOPE.search(restore.scope.rsplit(".", 1)[-1]):
        return Evidence(True, f"it is in `{restore.scope}()`")
    if _sets_initial_epoch(facts):
        return Evidence(True, "the script passes `initial_epoch`, so it continues a run")
    return Evidence(False, "nothing marks it as a warm start (no pre-trained path, frozen "
                           "layers or fine-tuning flag)")
