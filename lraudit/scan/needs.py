"""The prefilter: what a file's text must contain for each rule to possibly report in it.

Parsing is the cost of a scan (libcst parses ~16k lines/s), and most Python files, even in
TF/Keras projects, cannot hold a finding: a rule fires only on a combination of operations
(LR001 needs a `fit()` call *and* a restore), each spelled with an identifier that must appear
in the file's code.  Each rule's need is that combination, as words and small lexical shapes
(`.fit(`, `.lr =`, `lr=` in a call) joined with all/any.  A file is parsed only when some
selected rule's need holds, and only those rules run on it.

Why this never hides a finding: the resume model (facts.py) creates every event from an
attribute or keyword name written in the file's code, or from a canonical API name whose leaf
(or module path, e.g. `optimizers`) is written in the file's own imports and calls (names.py
only rewrites prefixes).  Each need below lists, for every event and object kind its rule
reads, the spellings the interpreter keys it on.  Comments and string contents are not code
and are ignored (f-strings are kept: their fields are code), except where a rule reads a
string (a path's `.h5` suffix).  When a rule or the interpreter learns a new trigger, its need
here must grow too: tests/test_equivalence.py runs every fixture, rule example, hazard and seed
(and variants of each with lines removed) with and without this filter.  A rule missing from
NEEDS falls back to its own `tokens`.

Evaluation is two-staged for speed: the needs are first checked on the raw text (a file that
fails there fails on its code too), and only a file that passes is reduced to its code and
checked again.  This module imports nothing heavy: rejecting a file must not import libcst.
"""

from __future__ import annotations

from typing import Iterable, Union

from lraudit.scan.textscan import (
    closing_bracket,
    code_only,
    enclosing_opener,
    has_word,
    is_ident_char,
    preceded_by,
    previous_char,
    previous_word,
    skip_blank,
    word_starts,
)


class Probe:
    """One file's text with memoised tests (the same word is asked for by many rules).

    `code` is what words are looked up in: the raw text in the first stage, the text without
    comments and string contents in the second; `raw` is always the file as written."""

    __slots__ = ("raw", "code", "memo", "_lower")

    def __init__(self, raw: str, code: str) -> None:
        self.raw = raw
        self.code = code
        self.memo: dict[tuple, bool] = {}
        self._lower: str | None = None

    def lower_raw(self) -> str:
        if self._lower is None:
            self._lower = self.raw.lower()
        return self._lower


class Need:
    """A test on a file's text.  Tests with a `key` are memoised per file: equal tests in
    several rules' needs run once.  (Plain classes, not dataclasses: this module is imported
    on every run, and building a dataclass costs about a millisecond.)"""

    __slots__ = ("key",)

    def __init__(self, key: tuple | None = None) -> None:
        self.key = key

    def holds(self, probe: Probe) -> bool:
        if self.key is None:
            return self.test(probe)
        found = probe.memo.get(self.key)
        if found is None:
            found = probe.memo[self.key] = self.test(probe)
        return found

    def test(self, probe: Probe) -> bool:
        raise NotImplementedError


class Word(Need):
    """An identifier in the code."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__(("word", name))
        self.name = name

    def test(self, probe: Probe) -> bool:
        return has_word(probe.code, self.name)


class Fragment(Need):
    """A substring of the code (part of an identifier), or, with `in_strings`, of the raw text
    in any case (a literal inside a string)."""

    __slots__ = ("text", "in_strings")

    def __init__(self, text: str, in_strings: bool = False) -> None:
        super().__init__()
        self.text = text
        self.in_strings = in_strings

    def test(self, probe: Probe) -> bool:
        return self.text in (probe.lower_raw() if self.in_strings else probe.code)


class Attr(Need):
    """`<expr>.name`, read or written (blanks allowed around the dot)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__(("attr", name))
        self.name = name

    def test(self, probe: Probe) -> bool:
        code = probe.code
        return any(preceded_by(code, i, ".") for i in word_starts(code, self.name))


class AttrWrite(Need):
    """`<expr>.name` where the interpreter may record a write: an assignment, annotated,
    `for` or `with ... as` target (alone or in a tuple/list target), or `.name.assign(...)`.
    An occurrence inside a call's or a subscript's brackets followed by `,`/`)`/`]` is an
    argument, never a target."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__(("attr-write", name))
        self.name = name

    def test(self, probe: Probe) -> bool:
        code, n = probe.code, len(self.name)
        for i in word_starts(code, self.name):
            if not preceded_by(code, i, "."):
                continue
            j = skip_blank(code, i + n)
            nxt = code[j:j + 2]
            if nxt[:1] == "=" and nxt != "==" or nxt[:1] == ":":
                return True
            if nxt[:1] == "." and has_word(code[j + 1:skip_blank(code, j + 1) + 6], "assign"):
                return True
            if nxt == "in" and not is_ident_char(code[j + 2:j + 3]):
                return True  # `for x.lr in ...` (or a comparison: harmless)
            if nxt[:1] and nxt[:1] in ",)]" and _may_be_target_element(code, i):
                return True
        return False


def _may_be_target_element(code: str, i: int) -> bool:
    """Outside any bracket, or in one that is not a call's or subscript's (`(a.lr, b) = ...`)."""
    opener, certain = enclosing_opener(code, i)
    if opener is None or not certain:
        return True
    before, unsure = previous_char(code, opener)
    if unsure or not before:
        return True
    if before in ")]":
        return False  # f(...)(x.lr, ...) or a[...][x.lr, ...]
    if is_ident_char(before):
        return previous_word(code, opener) in _KEYWORDS  # `for (x.lr, y) in`, `in [x.lr]`
    return True


_KEYWORDS = frozenset("and as assert async await del elif else for from if in is lambda not or return "
                      "while with yield".split())


class Keyword(Need):
    """`name=` as a call keyword: after `(` or `,`, before `=` (not `==`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__(("keyword", name))
        self.name = name

    def test(self, probe: Probe) -> bool:
        code, n = probe.code, len(self.name)
        for i in word_starts(code, self.name):
            j = skip_blank(code, i + n)
            if code.startswith("=", j) and not code.startswith("==", j) and preceded_by(code, i, "(,"):
                return True
        return False


class Call(Need):
    """`<expr>.name(...)`: a method call, the only way the interpreter records the events keyed
    on a method name.  With `holding`/`min_commas`, some such call must mention that word
    between its brackets or hold that many commas (an argument passed by position)."""

    __slots__ = ("names", "holding", "min_commas")

    def __init__(self, names: tuple[str, ...], holding: str | None = None, min_commas: int | None = None) -> None:
        super().__init__(("call", names, holding, min_commas))
        self.names = names
        self.holding = holding
        self.min_commas = min_commas

    def test(self, probe: Probe) -> bool:
        code = probe.code
        for name in self.names:
            for i in word_starts(code, name):
                if not preceded_by(code, i, "."):
                    continue
                j = skip_blank(code, i + len(name))
                if code.startswith(")", j):
                    return True  # `(model.fit)(...)`: cannot see the arguments
                if not code.startswith("(", j):
                    continue
                if self.holding is None and self.min_commas is None:
                    return True
                close = closing_bracket(code, j)
                if close is None:
                    return True
                inside = code[j:close]
                if self.holding is not None and has_word(inside, self.holding):
                    return True
                if self.min_commas is not None and inside.count(",") >= self.min_commas:
                    return True
        return False


class AnyOf(Need):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Need, ...]) -> None:
        super().__init__()
        self.parts = parts

    def test(self, probe: Probe) -> bool:
        return any(p.holds(probe) for p in self.parts)


class AllOf(Need):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Need, ...]) -> None:
        super().__init__()
        self.parts = parts

    def test(self, probe: Probe) -> bool:
        return all(p.holds(probe) for p in self.parts)


Part = Union[Need, str]


def _need(part: Part) -> Need:
    return Word(part) if isinstance(part, str) else part


def any_of(*parts: Part) -> Need:
    return AnyOf(tuple(_need(p) for p in parts))


def all_of(*parts: Part) -> Need:
    return AllOf(tuple(_need(p) for p in parts))


# --------------------------------------------------------------------------------------------
# what the interpreter keys each event and object kind on (facts.py)

# "train" events: method calls; only fit/fit_generator take an `initial_epoch`.
FIT = Call(("fit_generator", "fit"))
TRAIN = Call(("train_on_batch", "fit_generator", "fit"))
# ... a fit() that passes `initial_epoch`, by keyword or as its 12th argument (fit_generator's
# is the 14th: 11 commas is the lower bound for both).
FIT_WITH_INITIAL_EPOCH = Call(("fit_generator", "fit"), holding="initial_epoch", min_commas=11)
STEP = Call(("apply_gradients", "minimize", "apply"))  # "step" events (custom loops)
COMPILE = Call(("compile",))
CHECKPOINT = any_of("Checkpoint", "CheckpointManager")  # tf.train.Checkpoint objects (API names)
# "restore" events other than BackupAndRestore: load_model() (an API name: it may be called
# through an alias, so the word anywhere), load_weights(), restore()/read() on a Checkpoint
# (restore_or_initialize() on anything).
LOAD_WEIGHTS = Call(("load_weights",))
RESTORE = any_of("load_model", LOAD_WEIGHTS, all_of(CHECKPOINT, Call(("restore", "read"))),
                 Call(("restore_or_initialize",)))
# "lr_write": `.lr`/`.learning_rate` as a target or `.assign()`ed, or keras.backend.set_value.
LR_WRITE = any_of(AttrWrite("lr"), AttrWrite("learning_rate"),
                  all_of("set_value", any_of(Attr("lr"), Attr("learning_rate"))))
ITERATIONS_WRITE = any_of(AttrWrite("iterations"), all_of("set_value", Attr("iterations")))
# What makes an object an optimizer: a keras.optimizers constructor, LossScaleOptimizer, a
# `.optimizer`/`.inner_optimizer` attribute, compile(optimizer=...), apply_gradients/minimize.
OPTIMIZER = any_of(Fragment("ptimizer"), COMPILE, Call(("apply_gradients", "minimize")))
# A LearningRateSchedule object: keras.optimizers.schedules.*, the keras.experimental
# CosineDecay family, or a local subclass of LearningRateSchedule.
SCHEDULE = any_of("schedules", Fragment("CosineDecay"), "LearningRateSchedule")
# A path literal ending in .h5/.hdf5 (any case; escapes in a string could spell it too).
H5 = any_of(Fragment("h5", in_strings=True), Fragment("hdf5", in_strings=True), Fragment("\\", in_strings=True))
# A keras.callbacks base class of a local callback (module path or a private-path leaf).
CALLBACK_BASE = any_of(Fragment("allback"), "ModelCheckpoint", "BackupAndRestore", "LearningRateScheduler",
                       "ReduceLROnPlateau")
KERAS_IMPORT = any_of("tensorflow", "keras", "tf_keras")
SAVE = any_of(Call(("save",)), "save_model")  # a whole-model save: model.save() or save_model()

# Within all_of, the rarer parts come first: evaluation stops at the first that fails.
NEEDS: dict[str, Need] = {
    "LR001": all_of(RESTORE, FIT),
    "LR002": FIT_WITH_INITIAL_EPOCH,
    "LR003": FIT_WITH_INITIAL_EPOCH,
    "LR004": all_of(any_of("LearningRateScheduler", all_of(any_of("on_epoch_begin", "on_epoch_end"), LR_WRITE)),
                    FIT),
    "LR101": all_of(RESTORE, TRAIN, any_of(COMPILE, Attr("optimizer"))),
    "LR102": any_of(
        all_of("Checkpoint", STEP),
        all_of(any_of(all_of("include_optimizer", SAVE),
                      all_of(Call(("save_weights",)), H5),
                      all_of("save_weights_only", "ModelCheckpoint", H5)), any_of(TRAIN, STEP)),
        all_of(any_of(all_of(LOAD_WEIGHTS, H5), "load_model"), TRAIN),
        all_of(LOAD_WEIGHTS, STEP)),  # a custom loop's own optimizer, outside the weights file
    "LR103": all_of(LOAD_WEIGHTS, TRAIN, COMPILE),
    "LR104": all_of(CHECKPOINT, Call(("restore", "read")), any_of(TRAIN, STEP)),
    "LR201": all_of(LR_WRITE, OPTIMIZER),
    "LR202": all_of(any_of("LearningRateScheduler", "ReduceLROnPlateau"), TRAIN, SCHEDULE),
    "LR203": all_of(RESTORE, any_of(LR_WRITE, ITERATIONS_WRITE)),
    "LR204": all_of("LearningRateScheduler", "ReduceLROnPlateau", TRAIN),
    "LR301": all_of("LearningRateSchedule", any_of(SAVE, "ModelCheckpoint")),
    "LR302": all_of("LearningRateSchedule", "load_model"),
    "LR401": all_of(any_of("ReduceLROnPlateau", all_of(LR_WRITE, CALLBACK_BASE)),
                    any_of(RESTORE, "BackupAndRestore"), TRAIN),
    "LR402": all_of("save_best_only", any_of("load_model", LOAD_WEIGHTS), FIT_WITH_INITIAL_EPOCH),
    "LR403": Word("BackupAndRestore"),
    "LR501": all_of(Attr("lr"), KERAS_IMPORT),
    "LR502": all_of(Keyword("decay"), "optimizers"),
    "LR503": all_of(Keyword("lr"), "optimizers"),
}


def needed(text: str, codes: Iterable[str], tokens: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """The codes among `codes` that could report in `text` (in the order given).

    `tokens`: fallback substrings for a code without an entry in NEEDS (any one suffices);
    a code with neither is always needed."""
    first = Probe(text, text)
    out = []
    for code in codes:
        need = NEEDS.get(code)
        if need is not None:
            if need.holds(first):
                out.append(code)
            continue
        fallback = (tokens or {}).get(code, ())
        if not fallback or any(t in text for t in fallback):
            out.append(code)
    if not out:
        return out
    second = Probe(text, code_only(text))
    return [code for code in out if code not in NEEDS or NEEDS[code].holds(second)]
