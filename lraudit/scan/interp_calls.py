"""The interpreter's expressions and calls: what an expression evaluates to, Keras API calls
(constructors, `load_model`, checkpoints), and method calls on the objects it tracks
(`compile`, `fit`, `save`, `load_weights`, `restore`, ...).  A mixin of `facts._Interpreter`,
kept apart from statements and control flow (facts.py).
"""

from __future__ import annotations

import re
from dataclasses import replace

import libcst as cst

from lraudit.scan.literals import (
    NotALiteral,
    option_name,
    argument,
    keyword,
    literal_value,
    path_text,
    source_of,
)
from lraudit.scan.model import (
    CALLBACK,
    CHECKPOINT,
    CONST,
    LIST,
    MANAGER,
    MODEL,
    OPTIMIZER,
    SCHEDULE,
    STATUS,
    TUPLE,
    UNKNOWN,
)

# Path fragments that mark a restore as loading pre-trained weights rather than resuming.
_FINE_TUNE_HINTS = re.compile(r"pre[-_]?train|imagenet|backbone|teacher|transfer|foundation|base[-_]?(?:model|net)",
                              re.IGNORECASE)
_MODEL_CTORS = ("keras.Model", "keras.Sequential", "keras.models.model_from_json",
                "keras.models.model_from_config", "keras.models.model_from_yaml",
                "keras.models.clone_model")
_TRAIN_METHODS = {"fit", "fit_generator", "train_on_batch"}
# An imported helper that freezes what it is given (`freeze_all`, `freeze_layers`).
_FREEZE_HELPER = re.compile(r"freeze(?:_|$)|freeze[A-Z]", re.IGNORECASE)
# Words of a flag test or an option's help text that mark a load as a warm start.
WARM_START_TEXT = re.compile(r"pre[-_ ]?train|fine[-_ ]?tun|transfer|imagenet|warm[-_ ]?start|"
                              r"init(?:ial(?:ise|ize)?)?[-_ ]?(?:weights|from|model)", re.IGNORECASE)
# Optimizer classes of libraries built on Keras: constructed, they are optimizers like Keras's
# own (fresh, with a rate), so restores, recompiles and checkpoints involving them are judged
# alike.  (TensorFlow Addons, the TF Model Garden, Hugging Face's TF optimizers, Larq.)
THIRD_PARTY_OPTIMIZERS = ("tensorflow_addons.optimizers.", "official.modeling.optimization.",
                          "official.nlp.optimization.", "transformers.optimization_tf.",
                          "transformers.AdamWeightDecay", "larq.optimizers.")


class Calls:
    """Expression and call evaluation; expects the state and helpers of `_Interpreter`."""

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
            if call.func.attr.value == "lr":  # `optimizer.lr(step)`: the schedule read through `.lr`
                self.located[id(call.func)] = self.located[id(call.func.attr)] = (self.current_top,
                                                                                   self.current_stmt)
                self.note_lr_attribute(call.func, owners)
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
        if text is None and value:  # a parameter of the module's own helper: what it was given
            strings = {self.get(i).value for i in value if self.get(i).kind == CONST}
            if len(strings) == 1 and isinstance(next(iter(strings)), str):
                return next(iter(strings))
        return text

    # -- API calls ---------------------------------------------------------------------------
    def api_call(self, canon: str, call: cst.Call) -> frozenset[int]:
        leaf = canon.rsplit(".", 1)[-1]
        if _FREEZE_HELPER.match(leaf) and not canon.startswith(("keras.", "tensorflow.")):
            # `freeze_all(model.get_layer("backbone"))` from the project's utilities: freezing
            args = self.args(call)
            self.emit("freeze", call, frozenset().union(*args.values()) if args else frozenset())
            return frozenset({self.new(node=call)})
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
        if canon.startswith(THIRD_PARTY_OPTIMIZERS) and leaf[:1].isupper():
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
        inner = frozenset(i for i in args.get("optimizer") or args.get("0") or ()
                          if self.get(i).kind == OPTIMIZER)
        if inner:  # a wrapper (tfa's Lookahead, MovingAverage): the rate is the inner optimizer's
            lr = frozenset().union(*(self.get(i).lr for i in inner))
            return frozenset({self.new(OPTIMIZER, api=canon, node=call, lr=lr, members=inner)})
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
        """Evidence that a load is a warm start, not a resume: `skip_mismatch=True` (another
        architecture), a path that names pre-trained weights, a load under `if` a flag that says
        so (`if args.pretrained:`), or a path argument whose command-line help says so
        ("pretrained weights for fine tuning").  `by_name=True` alone is no evidence: resumes
        use it too."""
        arg = keyword(call, "skip_mismatch")
        if arg is not None and literal_value(arg.value) is True:
            return True
        first = call.args[0].value if call.args else None
        text = path_text(first, self.str_consts) if first is not None else None
        raw = source_of(first) if first is not None else ""
        if _FINE_TUNE_HINTS.search(text or "") or _FINE_TUNE_HINTS.search(raw):
            return True
        if any(WARM_START_TEXT.search(guard) for guard in self.guards):
            return True
        option = option_name(raw)
        return bool(option and WARM_START_TEXT.search(self.option_help.get(option, "")))

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
                    "expect_partial", "initialize_or_restore"):
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
