"""The resume model of one module.

An abstract interpreter walks the module in execution order (inlining calls to the module's
own functions) and records *events* -- restore, compile, fit, save, learning-rate writes,
optimizer steps -- bound to abstract *objects* (models, optimizers, schedules, checkpoints,
callbacks).  Objects flow through assignments, attributes, containers, parameters and return
values; `if`/`else`, loops and `try`/`except` are analysed on every path and joined, so a
restore under `if os.path.exists(...)` reaches the `fit` after it as a possible restore.

Rules never walk the tree: they query `ModuleFacts.events` and the object states captured
with each event.  The analysis is a may-analysis: "restored" means "restored on some path".
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from collections import ChainMap
from typing import Any, Iterator, Mapping

import libcst as cst
from pyrsistent import PMap, pmap

from lraudit.scan.names import Flavour, ImportTable, canonical, dotted_name

MAX_INLINE_DEPTH = 6

# Kinds of abstract objects.
MODEL, OPTIMIZER, SCHEDULE, CHECKPOINT, MANAGER = "model", "optimizer", "schedule", "checkpoint", "manager"
CALLBACK, LIST, TUPLE, CONST, STATUS, UNKNOWN = "callback", "list", "tuple", "const", "status", "unknown"

# Path fragments that mark a restore as loading pre-trained weights rather than resuming.
_FINE_TUNE_HINTS = re.compile(r"pre[-_]?train|imagenet|backbone|teacher|transfer|foundation|base[-_]model",
                              re.IGNORECASE)
_EXISTS_HINTS = re.compile(r"exists|isfile|isdir|latest|glob|listdir|scandir|iterdir")
_MODEL_CTORS = ("keras.Model", "keras.Sequential", "keras.models.model_from_json",
                "keras.models.model_from_config", "keras.models.model_from_yaml",
                "keras.models.clone_model")
_TRAIN_METHODS = {"fit", "fit_generator", "train_on_batch"}


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


# --------------------------------------------------------------------------------------------
# helpers over call nodes (the "call X lacks keyword Y" primitives rules share)


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional(call: cst.Call, index: int) -> cst.Arg | None:
    pos = [a for a in call.args if a.keyword is None and not a.star]
    return pos[index] if index < len(pos) else None


def argument(call: cst.Call, name: str, index: int | None = None) -> cst.Arg | None:
    """The argument bound to parameter `name` (keyword or, when given, its position)."""
    found = keyword(call, name)
    if found is None and index is not None:
        found = positional(call, index)
    return found


def has_star_args(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


def literal_value(node: cst.BaseExpression) -> object:
    """The value of a numeric/string/bool/None literal (with unary minus), else `NotALiteral`."""
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:  # more digits than int() converts (4,300 since Python 3.11)
            return NotALiteral
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal_value(node.expression)
        return -inner if isinstance(inner, (int, float)) else NotALiteral
    if isinstance(node, cst.SimpleString):
        try:
            with warnings.catch_warnings():  # "\d" in the user's string: their warning, not ours
                warnings.simplefilter("ignore")
                return node.evaluated_value
        except Exception:  # noqa: BLE001 - odd prefixes; treat as not a literal
            return NotALiteral
    if isinstance(node, cst.ConcatenatedString):
        left, right = literal_value(node.left), literal_value(node.right)
        return left + right if isinstance(left, str) and isinstance(right, str) else NotALiteral
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.BinaryOperation) and isinstance(
            node.operator, (cst.Multiply, cst.Divide, cst.Add, cst.Subtract, cst.Power)):
        left, right = literal_value(node.left), literal_value(node.right)
        if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool):
            if _too_big(left, right, node.operator):
                return NotALiteral
            try:
                return {cst.Multiply: lambda: left * right, cst.Divide: lambda: left / right,
                        cst.Add: lambda: left + right, cst.Subtract: lambda: left - right,
                        cst.Power: lambda: left ** right}[type(node.operator)]()
            except (ZeroDivisionError, OverflowError):
                return NotALiteral
    return NotALiteral


# A literal the analysis folds must stay a number the rules can compare: `10**10**10` in a
# scanned file would otherwise be computed (hours of CPU, gigabytes of memory).
_MAX_LITERAL_BITS = 4096


def _too_big(left: int | float, right: int | float, operator: cst.BaseBinaryOp) -> bool:
    """Whether folding `left <op> right` would build an integer beyond _MAX_LITERAL_BITS."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return False  # float arithmetic is bounded (OverflowError at worst)
    if isinstance(operator, cst.Power):
        return right > 0 and abs(left) > 1 and right * abs(left).bit_length() > _MAX_LITERAL_BITS
    if isinstance(operator, cst.Multiply):
        return abs(left).bit_length() + abs(right).bit_length() > _MAX_LITERAL_BITS
    return False


class _NotALiteral:
    def __repr__(self) -> str:
        return "NotALiteral"


NotALiteral = _NotALiteral()


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")


def path_text(node: cst.BaseExpression | None, consts: dict[str, str] | None = None) -> str | None:
    """The literal tail of a path expression: enough to see its suffix (`.h5`, `.keras`).

    Handles strings, f-strings (their trailing literal part), `os.path.join(..., "x.h5")`,
    `a + "x.h5"`, `Path(...) / "x.h5"`, `"...{}.h5".format(...)`, `"...%d.h5" % n` (its fields
    become "{}"), and a file picked from a glob: `max(glob.glob("ckpt/*.h5"), key=...)`,
    `sorted(Path(d).glob("*.h5"))[-1]`.
    """
    if node is None:
        return None
    value = literal_value(node)
    if isinstance(value, str):
        return value
    if isinstance(node, cst.FormattedString):
        tail = ""
        for part in reversed(node.parts):
            if isinstance(part, cst.FormattedStringText):
                tail = part.value + tail
            else:
                return "{}" + tail if tail else None
        return tail
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Divide)):
        return path_text(node.right, consts)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        template = path_text(node.left, consts)  # `"w/epoch%03d.h5" % epoch`: a template, like "{}"
        return _PERCENT_FIELD.sub("{}", template) if template is not None else None
    if isinstance(node, cst.Call):
        name = dotted_name(node.func) or ""
        if name.endswith(("path.join", ".joinpath")) and node.args:
            return path_text(node.args[-1].value, consts)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
            return path_text(node.func.value, consts)
        if name.endswith(("Path", "str", "fspath")) and len(node.args) == 1:
            return path_text(node.args[0].value, consts)
        leaf = node.func.attr.value if isinstance(node.func, cst.Attribute) else name
        if leaf in ("glob", "iglob", "rglob", "max", "min", "sorted") and node.args:
            return path_text(node.args[0].value, consts)  # the pattern, or the files it matched
    if isinstance(node, cst.Subscript):  # one of the files a glob matched: `files[-1]`
        return path_text(node.value, consts)
    if isinstance(node, cst.Name) and consts is not None:
        return consts.get(node.value)
    return None


def source_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


# --------------------------------------------------------------------------------------------
# the interpreter


@dataclass
class _State:
    """What is bound where on one path through the code.

    Persistent maps (pyrsistent): copying a state at a branch and snapshotting it for every
    event cost O(1), where dictionaries cost the number of objects each time (quadratic over a
    long script).  A join looks only at the keys written since the branch began (`_Writes`)."""

    env: PMap    # name -> object ids
    objs: PMap   # object id -> Obj
    attrs: PMap  # (owner id, attribute) -> object ids

    def copy(self) -> "_State":
        return _State(self.env, self.objs, self.attrs)

    def join(self, other: "_State", written: "_Writes") -> "_State":
        env = self.env.evolver()
        for k in written.env:
            mine, theirs = self.env.get(k), other.env.get(k)
            if theirs is not None and mine is not theirs:
                env[k] = theirs if mine is None else mine | theirs
        objs = self.objs.evolver()
        for k in written.objs:
            mine, theirs = self.objs.get(k), other.objs.get(k)
            if theirs is not None and mine is not theirs:  # untouched on both paths: a no-op
                objs[k] = theirs if mine is None else mine.join(theirs)
        attrs = self.attrs.evolver()
        for k in written.attrs:
            mine, theirs = self.attrs.get(k), other.attrs.get(k)
            if theirs is not None and mine is not theirs:
                attrs[k] = theirs if mine is None else mine | theirs
        return _State(env.persistent(), objs.persistent(), attrs.persistent())


@dataclass
class _Writes:
    """The keys written since a branch began (from the interpreter's write log)."""

    env: set[str]
    objs: set[int]
    attrs: set[tuple[int, str]]


@dataclass
class _Frame:
    name: str
    returns: frozenset[int] = frozenset()


class _Interpreter:
    def __init__(self, module: cst.Module, imports: ImportTable) -> None:
        self.module = module
        self.imports = imports
        self.state = _State(pmap(), pmap(), pmap())
        self.outer_envs: list[PMap] = []  # enclosing frames, innermost last
        # Every key written, in order: a branch remembers where the logs stood when it began
        # and joins only what was written after (see _State.join).
        self.log_env: list[str] = []
        self.log_objs: list[int] = []
        self.log_attrs: list[tuple[int, str]] = []
        self.events: list[Event] = []
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.class_bases: dict[str, tuple[str, ...]] = {}
        self.executed: set[int] = set()  # id() of function defs whose body ran
        self.frames: list[_Frame] = [_Frame("<module>")]
        self.loop_depth = 0
        self.loops: list[tuple[int, int]] = []  # (next object id, next event index) at each loop entry
        self.if_depth = 0
        self.conditional = 0
        self.next_id = 0
        self.str_consts: dict[str, str] = {}
        # id(node) -> (index of the module-level statement holding it, innermost statement
        # holding it), so positions can be computed for that statement alone (positions.py).
        self.located: dict[int, tuple[int, cst.CSTNode]] = {}
        self.current_top = 0
        self.current_stmt: cst.CSTNode = module
        self.def_top: dict[int, int] = {}
        self.attr_owners: dict[int, set[str]] = {}  # owner id -> attributes ever set on it
        self.raising = 0  # depth of `with pytest.raises(...)` / `self.assertRaises(...)` blocks  # id(FunctionDef/ClassDef) -> its module-level statement

    # -- objects -----------------------------------------------------------------------------
    def new(self, kind: str = UNKNOWN, **fields: object) -> int:
        self.next_id += 1
        self.put(self.next_id, Obj(kind=kind, **fields))  # type: ignore[arg-type]
        return self.next_id

    def get(self, i: int) -> Obj:
        return self.state.objs[i]

    def put(self, i: int, obj: Obj) -> None:
        self.state.objs = self.state.objs.set(i, obj)
        self.log_objs.append(i)

    def bind_name(self, name: str, value: frozenset[int]) -> None:
        self.state.env = self.state.env.set(name, value)
        self.log_env.append(name)

    def set_attr(self, owner: int, attr: str, value: frozenset[int]) -> None:
        self.state.attrs = self.state.attrs.set((owner, attr), value)
        self.log_attrs.append((owner, attr))
        self.attr_owners.setdefault(owner, set()).add(attr)

    def mark(self) -> tuple[int, int, int]:
        """Where the write logs stand: a branch begins here."""
        return len(self.log_env), len(self.log_objs), len(self.log_attrs)

    def written(self, mark: tuple[int, int, int]) -> _Writes:
        return _Writes(set(self.log_env[mark[0]:]), set(self.log_objs[mark[1]:]),
                       set(self.log_attrs[mark[2]:]))

    def update(self, ids: frozenset[int], **fields: object) -> None:
        for i in ids:
            self.put(i, replace(self.state.objs[i], **fields))  # type: ignore[arg-type]

    def set_kind(self, ids: frozenset[int], kind: str) -> None:
        for i in ids:
            if self.get(i).kind == UNKNOWN:
                self.put(i, replace(self.get(i), kind=kind))

    def emit(self, kind: str, node: cst.CSTNode, targets: frozenset[int], **detail: object) -> Event:
        event = Event(kind=kind, node=node, index=len(self.events), scope=self.frames[-1].name,
                      targets=targets, objs=self.state.objs, loop_depth=self.loop_depth,
                      conditional=self.conditional > 0, if_depth=self.if_depth, detail=dict(detail),
                      env=self._visible_env(), loop_start=self.loops[-1] if self.loops else None,
                      raises=self.raising > 0)
        self.events.append(event)
        return event

    def _visible_env(self) -> Mapping[str, frozenset[int]]:
        if not self.outer_envs:
            return self.state.env  # a persistent map: the snapshot costs nothing
        return ChainMap(self.state.env, *reversed(self.outer_envs))

    def peek(self, node: cst.BaseExpression) -> frozenset[int]:
        """What a name or attribute chain is bound to, without evaluating (no new objects)."""
        if isinstance(node, cst.Name):
            return self.lookup(node.value) or frozenset()
        if isinstance(node, cst.Attribute):
            out: frozenset[int] = frozenset()
            for owner in self.peek(node.value):
                out |= self.state.attrs.get((owner, node.attr.value), frozenset())
            return out
        return frozenset()

    def note_lr_attribute(self, node: cst.Attribute, owners: frozenset[int]) -> None:
        """`<x>.lr`: record who `<x>` is, so LR501 can tell an optimizer from a config object."""
        base = node.value
        holder = base.value if isinstance(base, cst.Attribute) and base.attr.value in (
            "optimizer", "inner_optimizer") else None
        holder_kinds = frozenset(self.get(i).kind for i in self.peek(holder)) if holder is not None else frozenset()
        self.emit("lr_attr", node, frozenset(i for i in owners if self.get(i).kind == OPTIMIZER),
                  via_attribute=holder is not None, holder_kinds=holder_kinds,
                  holder=source_of(holder) if holder is not None else None)

    def closure(self, ids: frozenset[int]) -> frozenset[int]:
        """Objects reachable through checkpoint/list members and model optimizers."""
        seen: set[int] = set()
        todo = list(ids)
        while todo:
            i = todo.pop()
            if i in seen or i not in self.state.objs:
                continue
            seen.add(i)
            o = self.get(i)
            todo.extend(o.members)
            todo.extend(o.optimizers)
            if o.kind in (CHECKPOINT, UNKNOWN):
                for attr in self.attr_owners.get(i, ()):
                    todo.extend(self.state.attrs.get((i, attr), ()))
        return frozenset(seen)

    # -- names ---------------------------------------------------------------------------------
    def resolve_import(self, node: cst.BaseExpression) -> str | None:
        """The canonical name of an imported name's expression, unless a local variable of
        that name shadows the import here (`import model` next to `model = load_model(...)`)."""
        head = node
        while isinstance(head, cst.Attribute):
            head = head.value
        if isinstance(head, cst.Name) and self.lookup(head.value):  # empty: bound to an import itself
            return None
        return self.imports.resolve(node)

    def lookup(self, name: str) -> frozenset[int] | None:
        if name in self.state.env:
            return self.state.env[name]
        for env in reversed(self.outer_envs):  # enclosing functions, then the module
            if name in env:
                return env[name]
        return None

    def bind(self, target: cst.BaseExpression, value: frozenset[int], value_node: cst.BaseExpression | None) -> None:
        self.located[id(target)] = (self.current_top, self.current_stmt)
        if isinstance(target, cst.Name):
            self.bind_name(target.value, value)
            if not value and isinstance(value_node, (cst.Name, cst.Attribute)):
                module = self.imports.expand(value_node)  # `keras = tf.keras`: an alias, like an import
                if module is not None and self.resolve_import(value_node) is not None:
                    self.imports.aliases[target.value] = module
            text = path_text(value_node, self.str_consts) if value_node is not None else None
            if text is not None:
                self.str_consts[target.value] = text
            else:
                self.str_consts.pop(target.value, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elems = self._unpack(value, len(target.elements), value_node)
            for el, val in zip(target.elements, elems):
                inner = el.value
                if isinstance(inner, cst.StarredElement):
                    inner = inner.value
                self.bind(inner, val, None)
        elif isinstance(target, cst.Attribute):
            self.assign_attr(target, value, value_node)
        elif isinstance(target, cst.Subscript):
            for owner in self.eval(target.value):
                if self.get(owner).kind in (LIST, UNKNOWN):
                    self.update(frozenset({owner}), members=self.get(owner).members | value)

    def _unpack(self, value: frozenset[int], n: int, node: cst.BaseExpression | None) -> list[frozenset[int]]:
        out: list[frozenset[int]] = [frozenset() for _ in range(n)]
        for i in value:
            o = self.get(i)
            if o.kind == TUPLE and len(o.elems) == n:
                out = [a | b for a, b in zip(out, o.elems)]
        return [v if v else frozenset({self.new()}) for v in out]

    def assign_attr(self, target: cst.Attribute, value: frozenset[int], value_node: cst.BaseExpression | None) -> None:
        owners = self.eval(target.value)
        attr = target.attr.value
        if attr == "lr":
            self.note_lr_attribute(target, owners)
        if attr in ("lr", "learning_rate") and self._optimizer_like(target.value, owners):
            opts = self._as_optimizers(target.value, owners)
            self.emit("lr_write", target, opts, value=value, value_node=value_node, style="attribute",
                      attr=attr)
        if attr == "optimizer":
            self.set_kind(owners, MODEL)
            self.set_kind(value, OPTIMIZER)
            self.emit("optimizer_assign", target, owners, value=value, value_node=value_node)
            self.update(owners, optimizers=value)
        if attr == "trainable" and value_node is not None and literal_value(value_node) is False:
            self.emit("freeze", target, owners)
        for owner in owners:
            self.set_attr(owner, attr, value)

    def _optimizer_like(self, expr: cst.BaseExpression, owners: frozenset[int]) -> bool:
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("optimizer", "inner_optimizer"):
            return True
        return any(self.get(i).kind == OPTIMIZER for i in owners)

    def _as_optimizers(self, expr: cst.BaseExpression, owners: frozenset[int]) -> frozenset[int]:
        self.set_kind(owners, OPTIMIZER)
        return owners

    # -- expressions -----------------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression | None) -> frozenset[int]:
        """The abstract objects an expression may evaluate to (never empty for calls/names)."""
        if node is None:
            return frozenset()
        self.located[id(node)] = (self.current_top, self.current_stmt)
        if isinstance(node, cst.Name):
            found = self.lookup(node.value)
            if found is not None:
                return found
            if self.imports.imported(node.value) or node.value in ("True", "False", "None"):
                return frozenset()
            fresh = frozenset({self.new()})
            self.bind_name(node.value, fresh)  # unbound (parameter, star import): track from here
            return fresh
        if isinstance(node, cst.Attribute):
            if self.resolve_import(node) is not None:
                return frozenset()
            owners = self.eval(node.value)
            return self.attribute(node, owners)
        if isinstance(node, cst.Call):
            return self.call(node)
        value = literal_value(node)
        if value is not NotALiteral:
            return frozenset({self.new(CONST, value=value, node=node)})
        if isinstance(node, (cst.List, cst.Set)):
            members: frozenset[int] = frozenset()
            for el in node.elements:
                members |= self.eval(el.value)
            return frozenset({self.new(LIST, members=members, node=node)})
        if isinstance(node, cst.Tuple):
            elems = tuple(self.eval(el.value) for el in node.elements)
            members = frozenset().union(*elems) if elems else frozenset()
            return frozenset({self.new(TUPLE, elems=elems, members=members, node=node)})
        if isinstance(node, cst.Dict):
            members = frozenset()
            for el in node.elements:
                if isinstance(el, cst.DictElement):
                    self.eval(el.key)
                    members |= self.eval(el.value)
            return frozenset({self.new(LIST, members=members, node=node)})
        if isinstance(node, cst.IfExp):
            self.eval(node.test)
            return self.eval(node.body) | self.eval(node.orelse)
        if isinstance(node, cst.BooleanOperation):
            return self.eval(node.left) | self.eval(node.right)
        if isinstance(node, cst.BinaryOperation):
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.operator, cst.Add) and any(self.get(i).kind == LIST for i in left | right):
                members = frozenset().union(*(self.get(i).members for i in left | right))
                return frozenset({self.new(LIST, members=members, node=node)})
            return frozenset({self.new(node=node)})
        if isinstance(node, cst.Subscript):
            owners = self.eval(node.value)
            for el in node.slice:
                if isinstance(el.slice, cst.Index):
                    self.eval(el.slice.value)
            members = frozenset().union(*(self.get(i).members for i in owners if self.get(i).kind == LIST)) \
                if owners else frozenset()
            return members or frozenset({self.new(node=node)})
        if isinstance(node, (cst.Await,)):
            return self.eval(node.expression)
        if isinstance(node, cst.NamedExpr):
            value = self.eval(node.value)
            self.bind(node.target, value, node.value)
            return value
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            self.eval(node.elt)
            return frozenset({self.new(LIST, node=node)})
        if isinstance(node, cst.Lambda):
            return frozenset({self.new(node=node)})
        # Comparisons, f-strings, unary ops...: evaluate children for their calls.
        for child in node.children:
            if isinstance(child, cst.BaseExpression):
                self.eval(child)
        return frozenset({self.new(node=node)})

    def attribute(self, node: cst.Attribute, owners: frozenset[int]) -> frozenset[int]:
        attr = node.attr.value
        self.located[id(node.attr)] = (self.current_top, self.current_stmt)  # `.lr` fixes rename it
        if attr == "lr":
            self.note_lr_attribute(node, owners)
        out: frozenset[int] = frozenset()
        for owner in owners:
            o = self.get(owner)
            if (owner, attr) in self.state.attrs:
                out |= self.state.attrs[(owner, attr)]
            elif attr == "optimizer" and o.kind in (MODEL, UNKNOWN):
                if o.optimizers:
                    out |= o.optimizers
                else:  # the model's optimizer, as yet unseen: one placeholder per model
                    opt = self.new(OPTIMIZER, fresh=False, node=node, restores=o.restores,
                                   opt_built=bool(o.restores), owner=owner)
                    self.put(owner, replace(self.get(owner), optimizers=frozenset({opt})))
                    out |= {opt}
            elif attr == "inner_optimizer" and o.kind == OPTIMIZER:
                out |= {owner}
            elif attr == "latest_checkpoint" and o.kind == MANAGER:
                out |= {self.new(CONST, value="<latest>", node=node)}
        if not out:
            fresh = self.new(node=node)
            for owner in owners:
                self.set_attr(owner, attr, frozenset({fresh}))
            out = frozenset({fresh})
        return out

    def args(self, call: cst.Call) -> dict[str, frozenset[int]]:
        """Evaluate every argument once, keyed by keyword or position ('0', '1', ...)."""
        out: dict[str, frozenset[int]] = {}
        pos = 0
        where = (self.current_top, self.current_stmt)
        for arg in call.args:
            self.located[id(arg)] = where  # rules report `lr=` and fix its keyword
            value = self.eval(arg.value)
            if arg.keyword is not None:
                self.located[id(arg.keyword)] = where
                out[arg.keyword.value] = value
            elif not arg.star:
                out[str(pos)] = value
                pos += 1
            else:
                out.setdefault("*", frozenset())
                out["*"] |= value
        return out

    def call(self, call: cst.Call) -> frozenset[int]:
        canon = self.resolve_import(call.func)
        if canon is not None:
            return self.api_call(canon, call)
        if isinstance(call.func, cst.Name) and self.lookup(call.func.value) is None:
            name = call.func.value
            if name in self.functions:
                return self.inline(self.functions[name], call)
            if name in self.classes:
                return self.construct_local(name, call)
        if isinstance(call.func, cst.Attribute):
            owners = self.eval(call.func.value)
            return self.method(owners, call.func.attr.value, call)
        self.eval(call.func)
        return frozenset({self.new(node=call, wraps=self._arg_objects(call))})

    def _arg_objects(self, call: cst.Call) -> frozenset[int]:
        """Evaluate the arguments of a call that is not modelled: every object passed."""
        return frozenset().union(*self.args(call).values())

    def _restore_path(self, arg: cst.Arg | None, value: frozenset[int] | None) -> str | None:
        """What `path_text` sees of a restore's path, or "<latest>" when the path is (a name
        bound to) `tf.train.latest_checkpoint(...)` or a manager's `latest_checkpoint`: a
        TF-format prefix, though no literal says so."""
        text = path_text(arg.value if arg else None, self.str_consts)
        if text is None and value and any(self.get(i).value == "<latest>" for i in value):
            return "<latest>"
        return text

    # -- API calls ---------------------------------------------------------------------------
    def api_call(self, canon: str, call: cst.Call) -> frozenset[int]:
        leaf = canon.rsplit(".", 1)[-1]
        if canon == "keras.models.load_model":
            args = self.args(call)
            compile_arg = keyword(call, "compile")
            compile_false = compile_arg is not None and literal_value(compile_arg.value) is False
            path = argument(call, "filepath", 0)
            model = self.new(MODEL, api=canon, node=call, compiled=not compile_false,
                             compile_false=compile_false)
            event = self.emit("restore", call, frozenset({model}), source="load_model",
                              path=self._restore_path(path, args.get("filepath") or args.get("0")),
                              fine_tune=self._fine_tune(call), compile_false=compile_false,
                              custom_objects="custom_objects" in args)
            self.update(frozenset({model}), restores=(event,))
            if not compile_false:
                opt = self.new(OPTIMIZER, api="<restored>", node=call, fresh=False, restores=(event,),
                               opt_built=True)
                self.update(frozenset({model}), optimizers=frozenset({opt}))
            return frozenset({model})
        if canon in _MODEL_CTORS or canon.startswith("keras.applications."):
            self.args(call)
            return frozenset({self.new(MODEL, api=canon, node=call)})
        if canon.startswith("keras.optimizers.schedules.") or canon == "keras.optimizers.schedules":
            self.args(call)
            return frozenset({self.new(SCHEDULE, api=canon, node=call)})
        if canon == "keras.mixed_precision.LossScaleOptimizer":
            args = self.args(call)
            inner = args.get("inner_optimizer") or args.get("0") or args.get("optimizer") or frozenset()
            lr = frozenset().union(*(self.get(i).lr for i in inner)) if inner else frozenset()
            return frozenset({self.new(OPTIMIZER, api=canon, node=call, lr=lr, members=inner)})
        if canon.startswith("keras.optimizers.") and leaf[:1].isupper() and leaf not in ("Optimizer",):
            return self.construct_optimizer(canon, call)
        if canon == "keras.optimizers.get":
            args = self.args(call)
            return frozenset({self.new(OPTIMIZER, api=canon, node=call, lr=frozenset())})
        if canon == "tensorflow.train.Checkpoint":
            args = self.args(call)
            members = frozenset().union(*args.values()) if args else frozenset()
            ckpt = self.new(CHECKPOINT, api=canon, node=call, members=members)
            self.emit("create", call, frozenset({ckpt}), api=canon, args=args)
            return frozenset({ckpt})
        if canon == "tensorflow.train.CheckpointManager":
            args = self.args(call)
            members = args.get("checkpoint") or args.get("0") or frozenset()
            return frozenset({self.new(MANAGER, api=canon, node=call, members=members)})
        if canon == "tensorflow.train.latest_checkpoint":
            self.args(call)
            return frozenset({self.new(CONST, value="<latest>", node=call)})
        if canon.startswith("keras.callbacks.") and leaf[:1].isupper():
            args = self.args(call)
            cb = self.new(CALLBACK, api=canon, node=call)
            first = argument(call, "filepath", 0) or argument(call, "backup_dir", 0)
            self.emit("create", call, frozenset({cb}), api=canon, args=args,
                      path=path_text(first.value if first else None, self.str_consts))
            return frozenset({cb})
        if canon in ("keras.backend.set_value", "keras.backend.set_value"):
            args = self.args(call)
            target = argument(call, "x", 0)
            value = argument(call, "value", 1)
            if target is not None and isinstance(target.value, cst.Attribute):
                attr = target.value.attr.value
                if attr in ("lr", "learning_rate"):
                    owners = self.eval(target.value.value)
                    if self._optimizer_like(target.value.value, owners):
                        self.emit("lr_write", call, self._as_optimizers(target.value.value, owners),
                                  value=args.get("value") or args.get("1") or frozenset(),
                                  value_node=value.value if value else None, style="set_value", attr=attr)
                elif attr == "iterations":
                    owners = self.eval(target.value.value)
                    self.emit("iterations_write", call, owners)
            return frozenset({self.new(node=call)})
        if canon == "keras.models.save_model":
            args = self.args(call)
            self.emit("save", call, args.get("model") or args.get("0") or frozenset(), source="save_model",
                      path=path_text((argument(call, "filepath", 1) or argument(call, "path", 1)).value
                                     if (argument(call, "filepath", 1) or argument(call, "path", 1)) else None,
                                     self.str_consts))
            return frozenset({self.new(node=call)})
        if canon == "tensorflow.saved_model.save":
            args = self.args(call)
            self.emit("save", call, args.get("obj") or args.get("0") or frozenset(), source="saved_model")
            return frozenset({self.new(node=call)})
        if canon in ("keras.mixed_precision.set_global_policy", "keras.mixed_precision.Policy"):
            self.args(call)
            self.emit("mixed_precision", call, frozenset())
            return frozenset({self.new(node=call)})
        return frozenset({self.new(node=call, api=canon, wraps=self._arg_objects(call))})

    def construct_optimizer(self, canon: str, call: cst.Call) -> frozenset[int]:
        args = self.args(call)
        lr = args.get("learning_rate") or args.get("lr") or args.get("0") or frozenset()
        kwargs = tuple(a.keyword.value for a in call.args if a.keyword is not None)
        return frozenset({self.new(OPTIMIZER, api=canon, node=call, lr=lr, opt_args=kwargs)})

    def construct_local(self, name: str, call: cst.Call) -> frozenset[int]:
        self.args(call)
        bases = self.class_bases.get(name, ())
        if any(b in ("keras.Model", "keras.Sequential") for b in bases):
            return frozenset({self.new(MODEL, api=name, node=call)})
        if any(b.startswith("keras.optimizers.schedules.") for b in bases):
            return frozenset({self.new(SCHEDULE, api=name, node=call)})
        if any(b.startswith("keras.callbacks.") for b in bases):
            cb = self.new(CALLBACK, api=name, node=call)
            self.emit("create", call, frozenset({cb}), api=name, local_class=True)
            return frozenset({cb})
        if any(b.startswith("keras.optimizers.") for b in bases):
            return frozenset({self.new(OPTIMIZER, api=name, node=call)})
        return frozenset({self.new(node=call, api=name)})

    def _fine_tune(self, call: cst.Call) -> bool:
        for kw in ("by_name", "skip_mismatch"):
            arg = keyword(call, kw)
            if arg is not None and literal_value(arg.value) is True:
                return True
        first = call.args[0].value if call.args else None
        text = path_text(first, self.str_consts) if first is not None else None
        raw = source_of(first) if first is not None else ""
        return bool(_FINE_TUNE_HINTS.search(text or "") or _FINE_TUNE_HINTS.search(raw))

    # -- method calls ------------------------------------------------------------------------
    def method(self, owners: frozenset[int], name: str, call: cst.Call) -> frozenset[int]:
        if name == "compile":
            args = self.args(call)
            self.set_kind(owners, MODEL)
            opt_ids = args.get("optimizer") or args.get("0") or frozenset()
            opt_arg = argument(call, "optimizer", 0)
            new_opts: set[int] = set()
            for i in opt_ids:
                o = self.get(i)
                if o.kind == CONST and isinstance(o.value, str):
                    new_opts.add(self.new(OPTIMIZER, api=f"keras.optimizers.{o.value}", node=opt_arg.value
                                          if opt_arg else call, lr=frozenset()))
                else:
                    self.set_kind(frozenset({i}), OPTIMIZER)
                    new_opts.add(i)
            event = self.emit("compile", call, owners, optimizer=frozenset(new_opts),
                              optimizer_node=opt_arg.value if opt_arg else None)
            if new_opts:
                self.update(owners, compiled=True, optimizers=frozenset(new_opts))
            else:
                self.update(owners, compiled=True)
            return frozenset({self.new(node=call)}) if event else frozenset()
        if name in _TRAIN_METHODS:
            args = self.args(call)
            self.set_kind(owners, MODEL)
            callbacks = args.get("callbacks") or (args.get("5") if name == "fit" else None) or frozenset()
            cb_ids = self._flatten(callbacks)
            self.emit("train", call, owners, method=name, callbacks=cb_ids, args=args)
            for m in owners:
                self.update(self.get(m).optimizers, opt_built=True)
            backup = [i for i in cb_ids if self.get(i).api == "keras.callbacks.BackupAndRestore"]
            if backup:
                event = self.emit("restore", call, owners, source="backup", fine_tune=False, path=None)
                for m in owners:
                    self.update(frozenset({m}), restores=self.get(m).restores + (event,))
            return frozenset({self.new(node=call)})
        if name == "load_weights":
            args = self.args(call)
            self.set_kind(owners, MODEL)
            path = argument(call, "filepath", 0)
            event = self.emit("restore", call, owners, source="load_weights",
                              path=self._restore_path(path, args.get("filepath") or args.get("0")),
                              fine_tune=self._fine_tune(call))
            for m in owners:
                o = self.get(m)
                self.update(frozenset({m}), restores=o.restores + (event,))
                for opt in o.optimizers:
                    self.update(frozenset({opt}), restores=self.get(opt).restores + (event,))
            return frozenset({self.new(node=call)})
        if name in ("save", "save_weights", "export", "write") and owners:
            args = self.args(call)
            kinds = {self.get(i).kind for i in owners}
            path = argument(call, "filepath", 0) or argument(call, "file_prefix", 0)
            if CHECKPOINT in kinds or MANAGER in kinds:
                self.emit("save", call, owners, source="checkpoint")
            else:
                self.emit("save", call, owners, source=name,
                          path=path_text(path.value if path else None, self.str_consts), args=args)
            return frozenset({self.new(node=call)})
        if name in ("restore", "read", "restore_or_initialize") and owners:
            args = self.args(call)
            kinds = {self.get(i).kind for i in owners}
            if kinds & {CHECKPOINT, MANAGER} or name == "restore_or_initialize":
                restored = self.closure(owners) - owners
                event = self.emit("restore", call, restored, source="checkpoint", fine_tune=False,
                                  path=None, checkpoint=owners)
                for i in restored:
                    self.update(frozenset({i}), restores=self.get(i).restores + (event,))
                return frozenset({self.new(STATUS, node=call, members=frozenset({event.index}))})
            return frozenset({self.new(node=call)})
        if name in ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match",
                    "expect_partial"):
            self.args(call)
            self.emit("status_check", call, owners, method=name)
            return owners
        if name in ("apply_gradients", "minimize", "apply"):
            self.args(call)
            if name != "apply" or any(self.get(i).kind == OPTIMIZER for i in owners):
                self.set_kind(owners, OPTIMIZER)
                self.emit("step", call, owners, method=name)
                self.update(owners, opt_built=True)
            return frozenset({self.new(node=call)})
        if name == "build" and any(self.get(i).kind == OPTIMIZER for i in owners):
            self.args(call)
            self.emit("build", call, owners)
            self.update(owners, opt_built=True)
            return frozenset({self.new(node=call)})
        if name == "assign" and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Attribute):
            inner = call.func.value
            args = self.args(call)
            if inner.attr.value in ("lr", "learning_rate"):
                base = self.eval(inner.value)
                if self._optimizer_like(inner.value, base):
                    value = argument(call, "value", 0)
                    self.emit("lr_write", call, self._as_optimizers(inner.value, base),
                              value=args.get("value") or args.get("0") or frozenset(),
                              value_node=value.value if value else None, style="assign",
                              attr=inner.attr.value)
            elif inner.attr.value == "iterations":
                self.emit("iterations_write", call, self.eval(inner.value))
            return frozenset({self.new(node=call)})
        if name in ("append", "extend", "insert", "add"):
            args = self.args(call)
            added = frozenset().union(*args.values()) if args else frozenset()
            if name == "extend":
                added = self._flatten(added)
            for i in owners:
                if self.get(i).kind in (LIST, UNKNOWN):
                    self.update(frozenset({i}), kind=LIST, members=self.get(i).members | added)
            return frozenset({self.new(node=call)})
        if name == "copy" and owners and all(self.get(i).kind == LIST for i in owners):
            self.args(call)
            return owners
        self.args(call)
        return frozenset({self.new(node=call)})

    def _flatten(self, ids: frozenset[int]) -> frozenset[int]:
        out: set[int] = set()
        for i in ids:
            o = self.get(i)
            if o.kind in (LIST, TUPLE):
                out |= self._flatten(o.members)
            else:
                out.add(i)
        return frozenset(out)

    # -- user functions ----------------------------------------------------------------------
    def inline(self, fn: cst.FunctionDef, call: cst.Call) -> frozenset[int]:
        args = self.args(call)
        if len(self.frames) > MAX_INLINE_DEPTH or any(f.name == fn.name.value for f in self.frames):
            return frozenset({self.new(node=call)})
        with self._inside(fn):
            params = self._bind_params(fn, args)
            saved_env = self.state.env
            self.outer_envs.append(saved_env)
            self.state.env = pmap(params)
            self.frames.append(_Frame(fn.name.value))
            self.executed.add(id(fn))
            try:
                self.block(fn.body)
                returns = self.frames[-1].returns
            finally:
                self.frames.pop()
                self.outer_envs.pop()
                self.state.env = saved_env
        return returns or frozenset({self.new(node=call)})

    @contextmanager
    def _inside(self, fn: cst.FunctionDef) -> Iterator[None]:
        """Analyse `fn`'s header and body where they are written: in its def statement, under
        its module-level statement (what `located` records for positions)."""
        saved = self.current_top, self.current_stmt
        self.current_top, self.current_stmt = self.def_top.get(id(fn), self.current_top), fn
        try:
            yield
        finally:
            self.current_top, self.current_stmt = saved

    def _bind_params(self, fn: cst.FunctionDef, args: dict[str, frozenset[int]]) -> dict[str, frozenset[int]]:
        env: dict[str, frozenset[int]] = {}
        params = list(fn.params.posonly_params) + list(fn.params.params)
        for index, param in enumerate(params):
            name = param.name.value
            value = args.get(name) or args.get(str(index))
            if value is None and param.default is not None:
                value = self.eval(param.default)
            env[name] = value or frozenset({self.new()})
        for param in fn.params.kwonly_params:
            name = param.name.value
            value = args.get(name)
            if value is None and param.default is not None:
                value = self.eval(param.default)
            env[name] = value or frozenset({self.new()})
        return env

    def standalone(self, fn: cst.FunctionDef, scope: str, self_obj: int | None = None) -> None:
        """Analyse a function nobody in the module calls, with unknown arguments."""
        saved = self.state
        first_new = self.next_id + 1
        self.state = _State(pmap(), saved.objs, saved.attrs)
        self.outer_envs = [saved.env]
        with self._inside(fn):
            env = self._bind_params(fn, {})
            if self_obj is not None and (fn.params.params or fn.params.posonly_params):
                first = (list(fn.params.posonly_params) + list(fn.params.params))[0].name.value
                env[first] = frozenset({self_obj})
            self.state.env = pmap(env)
            self.frames.append(_Frame(scope))
            self.executed.add(id(fn))
            try:
                self.block(fn.body)
            finally:
                self.frames.pop()
                objs = self.state.objs
                self.state = saved
                # keep what the function created (ids from first_new on), nothing it changed
                self.state.objs = self.state.objs.update(
                    {k: objs[k] for k in range(first_new, self.next_id + 1) if k in objs})
                self.outer_envs = []

    # -- statements --------------------------------------------------------------------------
    def block(self, body: cst.BaseSuite | cst.Module) -> None:
        if isinstance(body, cst.SimpleStatementSuite):
            for small in body.body:
                self.small(small)
            return
        for stmt in body.body:
            self.statement(stmt)

    def statement(self, stmt: cst.CSTNode) -> None:
        saved, self.current_stmt = self.current_stmt, stmt
        self.located[id(stmt)] = (self.current_top, stmt)
        try:
            self._statement(stmt)
        finally:
            self.current_stmt = saved

    def _statement(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self.def_top[id(stmt)] = self.current_top
            self.located[id(stmt.name)] = (self.current_top, stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small)
        elif isinstance(stmt, cst.FunctionDef):
            self.functions[stmt.name.value] = stmt
        elif isinstance(stmt, cst.ClassDef):
            self.classes[stmt.name.value] = stmt
            bases = tuple(filter(None, (self.imports.resolve(b.value) or self._local_base(b.value)
                                        for b in stmt.bases)))
            self.class_bases[stmt.name.value] = bases
        elif isinstance(stmt, cst.If):
            self.branch(stmt)
        elif isinstance(stmt, (cst.For, cst.While)):
            if isinstance(stmt, cst.For):
                items = self.eval(stmt.iter)
                members = frozenset().union(*(self.get(i).members for i in items)) if items else frozenset()
                self.bind(stmt.target, members or frozenset({self.new()}), None)
            else:
                self.eval(stmt.test)
            before, mark = self.state.copy(), self.mark()
            self.loop_depth += 1
            self.loops.append((self.next_id + 1, len(self.events)))
            try:
                self.block(stmt.body)
            finally:
                self.loop_depth -= 1
                self.loops.pop()
            self.state = before.join(self.state, self.written(mark))
            if stmt.orelse is not None:
                self.block(stmt.orelse.body)
        elif isinstance(stmt, cst.Try):
            before, mark = self.state.copy(), self.mark()
            self.conditional += 1
            try:
                self.block(stmt.body)
                after = self.state
                for handler in stmt.handlers:
                    self.state = before.copy()
                    self.block(handler.body)
                    after = after.join(self.state, self.written(mark))
                self.state = after
            finally:
                self.conditional -= 1
            if stmt.orelse is not None:
                self.block(stmt.orelse.body)
            if stmt.finalbody is not None:
                self.block(stmt.finalbody.body)
        elif isinstance(stmt, cst.With):
            raising = any(self._expects_failure(item.item) for item in stmt.items)
            for item in stmt.items:
                value = self.eval(item.item)
                if item.asname is not None:
                    self.bind(item.asname.name, value, item.item)
            self.raising += raising
            try:
                self.block(stmt.body)
            finally:
                self.raising -= raising
        elif hasattr(stmt, "body") and isinstance(getattr(stmt, "body"), cst.BaseSuite):
            self.block(stmt.body)  # match cases and the like: analyse the bodies in order

    def _expects_failure(self, expr: cst.BaseExpression) -> bool:
        """`pytest.raises(...)`, `self.assertRaises(...)` (and `...Regex`): a test asserting
        that the block fails, often with the very error a rule warns about."""
        if not isinstance(expr, cst.Call):
            return False
        name = dotted_name(expr.func) or ""
        return (name.rsplit(".", 1)[-1] in _ASSERT_RAISES
                or (self.imports.resolve(expr.func) or name) == "pytest.raises")

    def _local_base(self, node: cst.BaseExpression) -> str | None:
        name = dotted_name(node)
        if name in self.class_bases:  # a subclass of a local subclass inherits its bases
            bases = self.class_bases[name]
            return bases[0] if bases else None
        return None

    def branch(self, stmt: cst.If) -> None:
        self.eval(stmt.test)
        guarded = bool(_EXISTS_HINTS.search(source_of(stmt.test)))
        before, mark = self.state.copy(), self.mark()
        self.conditional += guarded
        self.if_depth += 1
        try:
            self.block(stmt.body)
            taken = self.state
            self.state = before
            if isinstance(stmt.orelse, cst.If):
                self.branch(stmt.orelse)
            elif stmt.orelse is not None:
                self.block(stmt.orelse.body)
            self.state = taken.join(self.state, self.written(mark))
        finally:
            self.conditional -= guarded
            self.if_depth -= 1

    def small(self, node: cst.BaseSmallStatement) -> None:
        self.located[id(node)] = (self.current_top, self.current_stmt)  # an import a fix extends
        if isinstance(node, cst.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.bind(target.target, value, node.value)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self.bind(node.target, self.eval(node.value), node.value)
        elif isinstance(node, cst.AugAssign):
            self.eval(node.value)
            self.eval(node.target)
            if isinstance(node.target, cst.Name):
                self.bind(node.target, frozenset({self.new(node=node)}), None)
        elif isinstance(node, cst.Expr):
            self.eval(node.value)
        elif isinstance(node, cst.Return):
            if node.value is not None:
                frame = self.frames[-1]
                frame.returns = frame.returns | self.eval(node.value)
        elif isinstance(node, cst.Assert):
            self.eval(node.test)
        elif isinstance(node, cst.Import):
            self.imports.add_import(node)
        elif isinstance(node, cst.ImportFrom):
            self.imports.add_import_from(node)

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> None:
        for index, stmt in enumerate(self.module.body):
            self.current_top = index
            self.statement(stmt)
        # Functions and methods that the module itself never calls: analyse them on their own.
        for name, fn in list(self.functions.items()):
            if id(fn) not in self.executed:
                self.standalone(fn, name)
        for cname, cls in list(self.classes.items()):
            bases = self.class_bases.get(cname, ())
            kind = MODEL if any(b in ("keras.Model", "keras.Sequential") for b in bases) else \
                CALLBACK if any(b.startswith("keras.callbacks.") for b in bases) else UNKNOWN
            self_obj = self.new(kind, api=cname)
            if kind == CALLBACK:  # Keras sets `self.model` on callbacks
                self.set_attr(self_obj, "model", frozenset({self.new(MODEL)}))
            for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
                self.def_top.setdefault(id(stmt), self.def_top.get(id(cls), 0))
                if isinstance(stmt, cst.FunctionDef) and id(stmt) not in self.executed:
                    self.standalone(stmt, f"{cname}.{stmt.name.value}", self_obj)
            # nested functions inside functions are reached through their parent's analysis


_ASSERT_RAISES = frozenset({"assertRaises", "assertRaisesRegex", "assertRaisesRegexp"})

_LEGACY_ENV = re.compile(r"TF_USE_LEGACY_KERAS['\"]\s*\]?\s*[,=:]\s*['\"]?(1|true|True)")
# Arguments only Keras 2 accepts (Keras 3 raises TypeError on them): the code runs on Keras 2.
_KERAS2_ONLY_ARGS = re.compile(r"\bsave_before_preemption\s*=")


def build_facts(module: cst.Module, source: str = "") -> ModuleFacts:
    imports = ImportTable()
    imports.env_legacy_keras = bool(_LEGACY_ENV.search(source) or _KERAS2_ONLY_ARGS.search(source))
    interp = _Interpreter(module, imports)
    interp.run()
    return ModuleFacts(module=module, imports=imports, flavour=imports.flavour(), events=interp.events,
                       objs=interp.state.objs, classes=interp.classes, class_bases=interp.class_bases,
                       last_freeze=max((e.index for e in interp.events if e.kind == "freeze"), default=-1),
                       source=source, located=interp.located)
