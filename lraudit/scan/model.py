"""The resume model of one module: the abstract objects, the events, and what the rules ask.

`facts.py` builds it (an abstract interpreter walks the module in execution order); rules only
read it.  Objects are models, optimizers, schedules, checkpoints, callbacks, lists...; events
are what the script does to training state (restore, compile, fit, save, rate writes, steps),
each with a snapshot of every object's state just before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import libcst as cst

from lraudit.scan.names import Flavour, ImportTable

# Kinds of abstract objects.
MODEL, OPTIMIZER, SCHEDULE, CHECKPOINT, MANAGER = "model", "optimizer", "schedule", "checkpoint", "manager"
CALLBACK, LIST, TUPLE, CONST, STATUS, UNKNOWN = "callback", "list", "tuple", "const", "status", "unknown"

@dataclass(frozen=True)
class Obj:
    """The state of one abstract object at one point of the program."""

    kind: str = UNKNOWN
    api: str | None = None  # canonical constructor, e.g. keras.optimizers.Adam
    node: cst.CSTNode | None = None  # where it was made
    value: object = None  # literal value of a CONST
    restores: tuple["Event", ...] = ()  # restore events that reached it on some path
    optimizers: frozenset[int] = frozenset()  # MODEL: the optimizer(s) it is compiled with
    compiled: bool = False
    compile_false: bool = False  # MODEL: load_model(..., compile=False)
    opt_built: bool = False  # OPTIMIZER: variables exist on every path (built or stepped)
    fresh: bool = True  # OPTIMIZER: constructed in this script, not restored from a file
    lr: frozenset[int] = frozenset()  # OPTIMIZER: what was passed as the learning rate
    opt_args: tuple[str, ...] = ()  # OPTIMIZER: keyword names given to the constructor
    members: frozenset[int] = frozenset()  # CHECKPOINT/LIST/MANAGER/STATUS: objects it holds
    elems: tuple[frozenset[int], ...] = ()  # TUPLE: positional elements
    # The result of a call the interpreter does not model: the arguments it may hold on to
    # (`weakref.ref(self)`, a wrapper, an imported `make_trainer(model, optimizer)`).
    wraps: frozenset[int] = frozenset()
    owner: int | None = None  # OPTIMIZER read as `<owner>.optimizer`: the object it belongs to

    def join(self, other: "Obj") -> "Obj":
        """Merge the states two paths leave; 'built' must hold on both, the rest on either."""
        restores = self.restores + tuple(e for e in other.restores if e not in self.restores)
        return replace(
            self,
            kind=self.kind if self.kind != UNKNOWN else other.kind,
            api=self.api or other.api,
            restores=restores,
            optimizers=self.optimizers | other.optimizers,
            compiled=self.compiled or other.compiled,
            compile_false=self.compile_false or other.compile_false,
            opt_built=self.opt_built and other.opt_built,
            fresh=self.fresh and other.fresh,
            lr=self.lr | other.lr,
            members=self.members | other.members,
            wraps=self.wraps | other.wraps,
            owner=self.owner if self.owner is not None else other.owner,
        )


@dataclass(eq=False)
class Event:
    """Something the script does to training state, in execution order."""

    kind: str  # restore | compile | train | save | lr_write | optimizer_assign | step | build | create | status_check
    #          | iterations_write | mixed_precision | lr_attr (`<x>.lr` read or written) | freeze (`.trainable = False`)
    node: cst.CSTNode
    index: int
    scope: str
    targets: frozenset[int]  # objects acted on (models for compile/train, optimizers for lr_write, ...)
    objs: dict[int, Obj]  # snapshot of every object's state just before the event
    loop_depth: int = 0
    conditional: bool = False  # under an existence test or a try
    if_depth: int = 0  # nested inside this many if/else branches
    detail: dict = field(default_factory=dict)
    # Names visible at the event (enclosing frames merged, innermost wins), so a rule can ask
    # what an argument spelled as a name was bound to.  Loop: (first object id created in the
    # innermost enclosing loop, index of its first event), or None outside loops.
    env: dict[str, frozenset[int]] = field(default_factory=dict)
    loop_start: tuple[int, int] | None = None
    # Inside `with pytest.raises(...)` / `with self.assertRaises(...)`: the code is expected to
    # fail, as a test of the very hazard a rule describes; rules do not see such events.
    raises: bool = False
    # The tests of the `if` bodies the event sits in (source text, innermost last): what a
    # script's own flags say about it (`if args.resume:`).
    guards: tuple[str, ...] = ()

    def states(self, ids: frozenset[int] | None = None) -> Iterator[Obj]:
        for i in self.targets if ids is None else ids:
            if i in self.objs:
                yield self.objs[i]

    @property
    def call(self) -> cst.Call | None:
        return self.node if isinstance(self.node, cst.Call) else None


@dataclass
class ModuleFacts:
    """Everything the rules may ask about one module."""

    module: cst.Module
    imports: ImportTable
    flavour: Flavour
    events: list[Event]
    objs: dict[int, Obj]  # final states
    classes: dict[str, cst.ClassDef]
    class_bases: dict[str, tuple[str, ...]]  # local class -> canonical base names
    last_freeze: int = -1  # index of the last `x.trainable = False` event (-1: none)
    option_help: dict[str, str] = field(default_factory=dict)  # `args.<name>` -> its --help text
    source: str = ""
    # id(node) -> (module-level statement index, innermost statement): where positions start
    located: dict[int, tuple[int, cst.CSTNode]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # rules' per-module derived data

    def of_kind(self, *kinds: str) -> Iterator[Event]:
        return (e for e in self.events if e.kind in kinds and not e.raises)

    def after(self, event: Event, *kinds: str) -> Iterator[Event]:
        return (e for e in self.events if e.index > event.index and e.kind in kinds and not e.raises)

    def before(self, event: Event, *kinds: str) -> Iterator[Event]:
        return (e for e in self.events if e.index < event.index and e.kind in kinds and not e.raises)

    def resolve(self, node: cst.BaseExpression) -> str | None:
        return self.imports.resolve(node)

    def reachable(self, ids: frozenset[int]) -> set[int]:
        """Objects the given ones may hold at the end of the module: checkpoint/list members,
        model optimizers and what an unmodelled call was given (what a `tf.train.Checkpoint`
        of them saves, as far as the module tells)."""
        seen: set[int] = set()
        todo = list(ids)
        while todo:
            i = todo.pop()
            if i in seen or i not in self.objs:
                continue
            seen.add(i)
            obj = self.objs[i]
            todo.extend(obj.members)
            todo.extend(obj.optimizers)
            todo.extend(obj.wraps)
        return seen

    def is_resume(self, restore: Event) -> bool:
        """A restore that continues a run, as opposed to loading pre-trained weights: not
        fine-tuning by its arguments or path (`_fine_tune`), and no layers frozen after it.
        (Freezing before the restore is how a fine-tuning run's own checkpoint is resumed.)"""
        return not restore.detail.get("fine_tune") and self.last_freeze < restore.index

    def resumed(self, obj: Obj) -> tuple[Event, ...]:
        return tuple(e for e in obj.restores if self.is_resume(e))
