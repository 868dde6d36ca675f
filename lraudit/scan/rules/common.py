"""Small queries the rules share, so each rule reads like its definition."""

from __future__ import annotations

import re
from typing import Iterable

import libcst as cst

from lraudit.scan.literals import argument, keyword, literal_value
from lraudit.scan.model import CONST, OPTIMIZER, SCHEDULE, Event, ModuleFacts, Obj
from lraudit.scan.names import Flavour
from lraudit.scan.rules.counters import rebound
from lraudit.scan.tree import descendants

WEIGHTS_ONLY_H5 = (".h5", ".hdf5")
KERAS3_SUFFIXES = (".weights.h5", ".keras", ".weights.json")


def describe_restore(event: Event) -> str:
    source = event.detail.get("source")
    return {
        "load_model": "`load_model()`",
        "load_weights": "`load_weights()`",
        "checkpoint": "`Checkpoint.restore()`",
        "backup": "`BackupAndRestore`",
    }.get(source, "a restore")


def is_legacy_h5(path: str | None) -> bool:
    """A Keras 2 style `.h5` weights file: holds layer weights only, never the optimizer."""
    if not path:
        return False
    lower = path.lower()
    return lower.endswith(WEIGHTS_ONLY_H5) and not lower.endswith(".weights.h5")


def is_keras3_file(path: str | None) -> bool:
    return bool(path) and path.lower().endswith(KERAS3_SUFFIXES)


def has_suffix(path: str | None) -> bool:
    """True when the path visibly names a file with an extension."""
    if not path:
        return False
    if path.lower().endswith(KERAS3_SUFFIXES + WEIGHTS_ONLY_H5):
        return True  # also when only the extension is literal: `name + ".keras"`
    tail = path.replace("\\", "/").rsplit("/", 1)[-1]
    if re.fullmatch(r"\.[A-Za-z0-9]{1,6}", tail):
        return True  # only the extension is literal: `name + ".mod"`, `f"{run}.hdf5"`
    return "." in tail.strip(".{}")


def optimizers_of(facts: ModuleFacts, models: Iterable[Obj]) -> list[Obj]:
    return [facts.objs[i] for m in models for i in m.optimizers if i in facts.objs]


def has_schedule(facts: ModuleFacts, opt: Obj, objs: dict[int, Obj] | None = None) -> bool:
    """The optimizer was given a LearningRateSchedule (built-in or a local subclass)."""
    table = objs or facts.objs
    return any(i in table and table[i].kind == SCHEDULE for i in opt.lr)


def is_constant(event: Event, ids: frozenset[int]) -> bool:
    """Every value the expression may take is a numeric literal."""
    states = [event.objs.get(i) for i in ids]
    return bool(states) and all(
        s is not None and s.kind == CONST and isinstance(s.value, (int, float)) and not isinstance(s.value, bool)
        for s in states)


def trained_after(facts: ModuleFacts, event: Event, models: frozenset[int]) -> Event | None:
    for later in facts.after(event, "train"):
        if later.targets & models:
            return later
    return None


def is_plain_sgd(opt: Obj) -> bool:
    """SGD without momentum keeps no slot variables, so Keras 3's count check passes."""
    if opt.kind != OPTIMIZER or not opt.api:
        return False
    if opt.api.lower() not in ("keras.optimizers.sgd",):
        return False
    node = opt.node
    if node is None or not hasattr(node, "args"):
        return True  # compile(optimizer="sgd")
    momentum = keyword(node, "momentum")  # type: ignore[arg-type]
    return momentum is None or literal_value(momentum.value) in (0, 0.0)


def flavour_severity(facts: ModuleFacts, certain: bool, high, low):
    """The rule's severity when the Keras flavour makes it certain, a lower one otherwise."""
    return high if certain or facts.flavour is Flavour.KERAS3 else low


# --------------------------------------------------------------------------------------------
# helpers for the epoch, callback, schedule and migration rules


def bound_nodes(event: Event, expr) -> list:
    """The expressions a value may have come from: `expr` itself, or, for a name, the
    expressions that built the objects it was bound to when `event` happened."""
    if isinstance(expr, cst.Name) and expr.value in event.env:
        nodes = [event.objs[i].node for i in event.env[expr.value] if i in event.objs]
        return [n for n in nodes if n is not None] or [expr]
    return [expr]


def constant_ints(event: Event, ids: frozenset[int], parameter_defaults: set[int]) -> list[int] | None:
    """Every int the value may be, when all are literals that are not a parameter's default
    (a default says nothing about what a caller passes); else None."""
    out = []
    for i in ids:
        o = event.objs.get(i)
        if o is None or o.kind != CONST or isinstance(o.value, bool) or not isinstance(o.value, int):
            return None
        if o.node is not None and id(o.node) in parameter_defaults:
            return None
        out.append(o.value)
    return out or None


def parameter_default_ids(facts: ModuleFacts) -> set[int]:
    """id() of every literal that is a function parameter's default value (and its parts).
    (A walk over node fields, once per module: a libcst visit would rebuild the whole module.)"""
    found = facts.memo.get("parameter_defaults")
    if found is None:
        found = facts.memo["parameter_defaults"] = {
            id(sub) for node in descendants(facts.module) if isinstance(node, cst.Param) and node.default is not None
            for sub in descendants(node.default)}
    return found


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def walk(node):
    """Every node under `node`, itself included (plain recursion: no metadata needed)."""
    return _walk(node)


def callback_kinds(facts: ModuleFacts, event: Event) -> dict[int, str]:
    """Callback object id -> canonical Keras class it is (or derives from), for a train event."""
    out: dict[int, str] = {}
    for i in event.detail.get("callbacks", ()):
        o = event.objs.get(i)
        if o is None or not o.api:
            continue
        if o.api.startswith("keras.callbacks."):
            out[i] = o.api
        else:
            bases = facts.class_bases.get(o.api, ())
            keras_bases = [b for b in bases if b.startswith("keras.callbacks.")]
            if keras_bases:
                out[i] = keras_bases[0]
    return out


def local_class_of(facts: ModuleFacts, event: Event, i: int):
    """The module's own class an object was built from, if any."""
    o = event.objs.get(i)
    return facts.classes.get(o.api) if o is not None and o.api else None


def is_full_model_save(facts: ModuleFacts, event: Event) -> bool:
    """A save that serialises the model's config and its optimizer (and so the schedule)."""
    if event.kind != "save" or event.call is None:
        return False
    source = event.detail.get("source")
    if source not in ("save", "save_model"):
        return False
    include = keyword(event.call, "include_optimizer")
    if include is not None and literal_value(include.value) is False:
        return False
    path = event.detail.get("path") or ""
    if path.lower().endswith((".weights.h5", ".weights.json")):
        return False
    targets = [event.objs.get(i) for i in event.targets]
    return any(t is not None and t.kind == "model" for t in targets) or path.lower().endswith((".keras", ".h5", ".hdf5"))


def full_model_checkpoints(facts: ModuleFacts) -> list[Event]:
    """`ModelCheckpoint` callbacks that save the whole model (not weights only)."""
    out = []
    for create in facts.of_kind("create"):
        if create.detail.get("api") != "keras.callbacks.ModelCheckpoint" or create.call is None:
            continue
        weights_only = keyword(create.call, "save_weights_only")
        if weights_only is not None and literal_value(weights_only.value) is not False:
            continue
        out.append(create)
    return out


def saves_full_model(facts: ModuleFacts) -> bool:
    return any(is_full_model_save(facts, e) for e in facts.of_kind("save")) or bool(full_model_checkpoints(facts))


def flavour_is(facts: ModuleFacts, flavour: Flavour) -> bool:
    return facts.flavour is flavour


RESUME_GUARD = ("`lraudit.keras.ResumeGuard()` in the callbacks stops such a run at its first step.")


# Position of `initial_epoch` in each training method's signature (Keras 2 and 3 agree).
INITIAL_EPOCH_POSITION = {"fit": 11, "fit_generator": 13}


def initial_epoch_ids(train: Event) -> frozenset[int]:
    """The objects a training call's `initial_epoch` argument evaluated to."""
    args = train.detail.get("args", {})
    return args.get("initial_epoch") or args.get(str(INITIAL_EPOCH_POSITION[train.detail["method"]])) or frozenset()


def always_zero(facts: ModuleFacts, train: Event, arg: cst.Arg) -> bool:
    """`initial_epoch=<arg>` is 0 on every path: the literal, or a name bound only to 0 (once,
    and not to a parameter's default, which says nothing about what a caller passes)."""
    if literal_value(arg.value) == 0:
        return True
    if not isinstance(arg.value, cst.Name):
        return False
    values = constant_ints(train, initial_epoch_ids(train), parameter_default_ids(facts))
    return bool(values) and set(values) == {0} and not rebound(facts.module, train.call, arg.value.value)


def in_callback(facts: ModuleFacts, event: Event) -> bool:
    """The event happens in a method of one of the module's own Keras `Callback` subclasses."""
    bases = facts.class_bases.get(event.scope.split(".")[0], ())
    return any(b.startswith("keras.callbacks.") for b in bases)


def scheduler_function(facts: ModuleFacts, node: cst.CSTNode | None) -> cst.Lambda | cst.FunctionDef | None:
    """The function a `LearningRateScheduler(...)` call is given, when this module shows it: a
    lambda, or a function defined at module level.  None for anything else (an imported
    function, `config.lr_fn`): what it does is unknown."""
    if not isinstance(node, cst.Call):
        return None
    arg = argument(node, "schedule", 0)
    fn = arg.value if arg is not None else None
    if isinstance(fn, cst.Name):
        fn = next((s for s in facts.module.body if isinstance(s, cst.FunctionDef) and s.name.value == fn.value),
                  None)
    return fn if isinstance(fn, (cst.Lambda, cst.FunctionDef)) else None


def uses_name(node: cst.CSTNode, name: str) -> bool:
    found = False

    class _Visitor(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            nonlocal found
            if n.value == name:
                found = True

    node.visit(_Visitor())
    return found


def related_scopes(a: str, b: str) -> bool:
    """Two events can concern the same run: same function, the module's own code, or methods
    of one class.  A test module's `test_resume` and `test_rate_override` are not related."""
    return a == b or "<module>" in (a, b) or a.split(".")[0] == b.split(".")[0]


def resumes_near(facts: ModuleFacts, event: Event) -> bool:
    """Some restore in a scope related to `event`'s continues a previous run."""
    return any(facts.is_resume(r) and related_scopes(r.scope, event.scope)
               for r in facts.of_kind("restore"))


def epoch_lr_callbacks(facts: ModuleFacts, train: Event) -> tuple[list[str], list[str]]:
    """Names of the callbacks on this fit() that set the learning rate from the epoch index:
    those known to, and `LearningRateScheduler`s whose function this module does not show."""
    known, unknown = [], []
    kinds = callback_kinds(facts, train)
    for i, kind in kinds.items():
        api = train.objs[i].api or kind
        if kind == "keras.callbacks.LearningRateScheduler":
            reads = scheduler_reads_epoch(facts, train.objs[i].node)
            if reads:
                known.append(api.rsplit(".", 1)[-1])
            elif reads is None:
                unknown.append(api.rsplit(".", 1)[-1])
        elif api in facts.classes and writes_rate_per_epoch(facts, api):
            known.append(api)
    return known, unknown


def scheduler_reads_epoch(facts: ModuleFacts, node: cst.CSTNode | None) -> bool | None:
    """Does the LearningRateScheduler's function use its epoch argument?  (`lambda e, lr: lr * 0.9`
    decays per call whatever the epoch number, so restarts at 0 do not change it.)  None when
    the module does not show the function (`LearningRateScheduler(config.lr_fn)`, an imported
    function): an unknown function is no evidence either way."""
    fn = scheduler_function(facts, node)
    if fn is None:
        return None
    params = list(fn.params.posonly_params) + list(fn.params.params)
    if not params:
        return False
    return uses_name(fn.body, params[0].name.value)


def writes_rate_per_epoch(facts: ModuleFacts, class_name: str) -> bool:
    """The class has an `on_epoch_begin/end` that uses its epoch argument and writes the rate."""
    cls = facts.classes.get(class_name)
    if cls is None or not isinstance(cls.body, cst.IndentedBlock):
        return False
    writers = {e.scope for e in facts.of_kind("lr_write") if e.scope.startswith(class_name + ".")}
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.FunctionDef) or stmt.name.value not in ("on_epoch_begin", "on_epoch_end"):
            continue
        params = list(stmt.params.params)
        if len(params) < 2 or f"{class_name}.{stmt.name.value}" not in writers:
            continue
        epoch = params[1].name.value
        if uses_name(stmt.body, epoch):
            return True
    return False


def epoch_consumer(facts: ModuleFacts, train: Event) -> str | None:
    """What in this fit() reads the epoch index, so that a restart at epoch 0 changes the run:
    a scheduler or callback that sets the rate per epoch, or epoch-numbered checkpoint files."""
    known, unknown = epoch_lr_callbacks(facts, train)
    if known or unknown:
        return f"`{(known or unknown)[0]}`"
    for i in train.detail.get("callbacks", ()):
        o = train.objs.get(i)
        if o is None or not o.api or not o.api.endswith("ModelCheckpoint"):
            continue
        create = next((e for e in facts.of_kind("create") if i in e.targets), None)
        path = create.detail.get("path") if create is not None else None
        if path and "{epoch" in path:
            return "the epoch-numbered `ModelCheckpoint` files"
    return None
