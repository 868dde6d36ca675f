"""The resume model of one module: how it is built.

An abstract interpreter walks the module in execution order (inlining calls to the module's
own functions) and records *events* -- restore, compile, fit, save, learning-rate writes,
optimizer steps -- bound to abstract *objects* (models, optimizers, schedules, checkpoints,
callbacks).  Objects flow through assignments, attributes, containers, parameters and return
values; `if`/`else`, loops and `try`/`except` are analysed on every path and joined, so a
restore under `if os.path.exists(...)` reaches the `fit` after it as a possible restore.

Rules never walk the tree: they query `ModuleFacts.events` and the object states captured
with each event.  The analysis is a may-analysis: "restored" means "restored on some path".

Layout: `model.py` holds what the rules read (objects, events, ModuleFacts); `literals.py` the
call and literal helpers the interpreter and rules share; `interp_calls.py` the expressions and
calls; this module the state, the statements and control flow, and `build_facts`.
"""

from __future__ import annotations

import re
from collections import ChainMap
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator, Mapping

import libcst as cst
from pyrsistent import PMap, pmap

from lraudit.scan.constants import module_constants, static_truth
from lraudit.scan.interp_calls import WARM_START_TEXT, Calls
from lraudit.scan.literals import literal_value, path_text, source_of
from lraudit.scan.model import (
    CALLBACK,
    CHECKPOINT,
    LIST,
    MODEL,
    OPTIMIZER,
    TUPLE,
    UNKNOWN,
    Event,
    ModuleFacts,
    Obj,
)
from lraudit.scan.names import ImportTable, dotted_name

MAX_INLINE_DEPTH = 6
_EXISTS_HINTS = re.compile(r"exists|isfile|isdir|latest|glob|listdir|scandir|iterdir")


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


class _Interpreter(Calls):
    def __init__(self, module: cst.Module, imports: ImportTable, source: str = "") -> None:
        self.module = module
        self.imports = imports
        self.constants = module_constants(module, source) if source else {}
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
        self.def_top: dict[int, int] = {}  # id(FunctionDef/ClassDef) -> its module-level statement
        self.attr_owners: dict[int, set[str]] = {}  # owner id -> attributes ever set on it
        self.raising = 0  # depth of `with pytest.raises(...)` / `self.assertRaises(...)` blocks
        self.guards: list[str] = []  # the tests of the enclosing `if` bodies, innermost last
        self.option_help = option_help(source)  # argparse/absl option -> its help text

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
                      raises=self.raising > 0, guards=tuple(self.guards))
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
                canon = self.resolve_import(value_node)
                if module is not None and canon is not None:
                    if canon.split(".")[0] in _LIBRARY_ROOTS:
                        self.imports.aliases[target.value] = module
                    else:  # `epoch = FLAGS.initial_epoch`: a value from another module, unknown
                        self.bind_name(target.value, frozenset({self.new(node=value_node)}))
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
            if self.get(owner).kind == CHECKPOINT:  # `ckpt.optimizer = opt`: tracked like an argument
                self.update(frozenset({owner}), members=self.get(owner).members | value)

    def _optimizer_like(self, expr: cst.BaseExpression, owners: frozenset[int]) -> bool:
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("optimizer", "inner_optimizer"):
            return True
        return any(self.get(i).kind == OPTIMIZER for i in owners)

    def _as_optimizers(self, expr: cst.BaseExpression, owners: frozenset[int]) -> frozenset[int]:
        self.set_kind(owners, OPTIMIZER)
        return owners

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
                objs, attrs = self.state.objs, self.state.attrs
                self.state = saved
                # keep what the function created (ids from first_new on), nothing it changed
                self.state.objs = self.state.objs.update(
                    {k: objs[k] for k in range(first_new, self.next_id + 1) if k in objs})
                if self_obj is not None:
                    # what a method stores on `self` is there for the methods analysed after it
                    # (`self.model = load_model(...)` in `__init__`, `self.model.fit()` in `train`)
                    for attr in self.attr_owners.get(self_obj, ()):
                        if (self_obj, attr) in attrs:
                            self.state.attrs = self.state.attrs.set((self_obj, attr), attrs[(self_obj, attr)])
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
        decided = static_truth(stmt.test, self.constants) if self.constants else None
        if decided is not None:  # a flag set once at the top decides it: one way only runs
            if decided:
                self.block(stmt.body)
            elif isinstance(stmt.orelse, cst.If):
                self.branch(stmt.orelse)
            elif stmt.orelse is not None:
                self.block(stmt.orelse.body)
            return
        guarded = bool(_EXISTS_HINTS.search(source_of(stmt.test)))
        before, mark = self.state.copy(), self.mark()
        self.conditional += guarded
        self.if_depth += 1
        self.guards.append(source_of(stmt.test))
        try:
            self.block(stmt.body)
        finally:
            self.guards.pop()
        try:
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
            value = self.eval(node.value)
            target = self.eval(node.target)
            if isinstance(node.operator, cst.AddAssign) and any(
                    self.get(i).kind == LIST for i in target | value):
                # `callbacks += [...]` extends the list in place: the name keeps its list
                added = self._flatten(value)
                for i in target:
                    if self.get(i).kind in (LIST, UNKNOWN):
                        self.update(frozenset({i}), kind=LIST, members=self.get(i).members | added)
            elif isinstance(node.target, cst.Name):
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


# Namespaces whose names an assignment aliases (`keras = tf.keras`, `K = keras.backend`); a name
# taken from any other module (`FLAGS.initial_epoch`) is a value lraudit does not know.
_LIBRARY_ROOTS = frozenset({"keras", "tensorflow", "tf_keras", "tensorflow_addons"})

_ASSERT_RAISES = frozenset({"assertRaises", "assertRaisesRegex", "assertRaisesRegexp"})

_LEGACY_ENV = re.compile(r"TF_USE_LEGACY_KERAS['\"]\s*\]?\s*[,=:]\s*['\"]?(1|true|True)")
# Arguments and methods only Keras 2 has (Keras 3 raises on them): a script that uses them runs
# on Keras 2, whatever it imports.  (`lr=` and `.lr` are left to LR501/LR503, which say what
# each Keras does with them.)
_KERAS2_ONLY_ARGS = re.compile(
    r"\bsave_before_preemption\s*=|\.(?:fit|evaluate|predict)_generator\s*\(|\bsave_format\s*="
    r"|\buse_multiprocessing\s*=|ModelCheckpoint\([^)]*\bperiod\s*=")


_ADD_OPTION = re.compile(
    r"""(?:add_argument|DEFINE_\w+)\(\s*(?:['"]-\w['"]\s*,\s*)?['"]-*([\w-]+)['"](?:(?!add_argument|DEFINE_).){0,400}?"""
    r"""help\s*=\s*(?:[rubf]*)(['"])(.*?)\2""", re.DOTALL)


def option_help(source: str) -> dict[str, str]:
    """`--init-weights` declared with `help="pretrained weights for fine tuning"` -> that help,
    keyed by the attribute name the script reads (`args.init_weights`)."""
    if "help" not in source:
        return {}
    return {name.replace("-", "_"): text for name, _, text in _ADD_OPTION.findall(source)}


def build_facts(module: cst.Module, source: str = "") -> ModuleFacts:
    imports = ImportTable()
    imports.env_legacy_keras = bool(_LEGACY_ENV.search(source) or _KERAS2_ONLY_ARGS.search(source))
    interp = _Interpreter(module, imports, source)
    interp.run()
    return ModuleFacts(module=module, imports=imports, flavour=imports.flavour(), events=interp.events,
                       objs=interp.state.objs, classes=interp.classes, class_bases=interp.class_bases,
                       # a freeze under its own flag (`if args.freeze_backbone:`) proves nothing
                       # about the load before it: resumes of such runs freeze too; under a test
                       # that names a warm start (`if FLAGS.transfer == "fine_tune":`) it does
                       last_freeze=max((e.index for e in interp.events if e.kind == "freeze" and (
                           not e.guards or any(WARM_START_TEXT.search(g) for g in e.guards))), default=-1),
                       source=source, located=interp.located, option_help=interp.option_help)
