"""The pieces of scan performance on their own: the rule-code catalog, the prefilter's lexical
helpers, the pool's work units."""

from __future__ import annotations

import pytest

from lraudit.scan.api import batches
from lraudit.scan.catalog import all_codes, select_codes
from lraudit.scan.needs import NEEDS, needed
from lraudit.scan.rules import ALL_RULES, select_rules
from lraudit.scan.textscan import closing_bracket, code_only, has_word, preceded_by


def test_catalog_codes_are_the_rules_codes() -> None:
    assert list(all_codes()) == [r.code for r in ALL_RULES]


@pytest.mark.parametrize("select,ignore", [
    (None, None), (["ALL"], None), (["LR1"], None), (["lr101", "LR5"], ["LR503"]), (None, ["ALL"]),
    (["LR0", " LR2 "], ["LR00"]), ([""], None),
])
def test_select_codes_matches_select_rules(select, ignore) -> None:
    assert select_codes(select, ignore) == [r.code for r in select_rules(select, ignore)]


def test_whole_words_only() -> None:
    assert has_word("model.fit(x)", "fit")
    assert not has_word("benefit = fitted + fit_generator", "fit")
    assert has_word("fit", "fit")
    assert has_word("(fit)", "fit")


def test_code_only_drops_comments_and_string_contents_but_keeps_fstrings() -> None:
    text = ('x = "model.fit(x)"  # model.load_weights(p)\n'
            "y = '''\nmodel.fit\n'''\n"
            'z = f"{model.fit(x)}"\n'
            "w = 'it''s'\n")
    code = code_only(text)
    assert "load_weights" not in code
    assert code.count("fit") == 1 and 'f"{model.fit(x)}"' in code
    assert code.startswith('x = ""')


def test_closing_bracket_skips_strings_and_comments() -> None:
    text = 'f(a, ")", b  # )\n, c)\nrest'
    assert text[closing_bracket(text, 1)] == ")" and text[closing_bracket(text, 1) + 1] == "\n"
    assert closing_bracket("f(a, b", 1) is None


def test_preceded_by_looks_back_over_blanks_and_doubts_comments() -> None:
    assert preceded_by("model . lr", 8, ".")
    assert preceded_by("model.\\\n    lr", 12, ".")
    assert not preceded_by("lr = 1", 0, ".")
    assert preceded_by("(model.  # note\n lr)", 17, ".")  # a comment line in between: unsure


@pytest.mark.parametrize("text,code,expected", [
    ("opt.lr = 0.1\noptimizers", "LR503", False),          # an attribute write, not a keyword
    ("Adam(lr=0.1)  # optimizers", "LR503", False),         # the module name only in a comment
    ("keras.optimizers.Adam(lr=0.1)", "LR503", True),
    ("print(opt.learning_rate)\nmodel.compile(optimizer=o)", "LR201", False),  # a read
    ("opt.learning_rate = 0.1\nmodel.compile(optimizer=o)", "LR201", True),
    ("(opt.learning_rate, b) = 0.1, 2\nmodel.compile(optimizer=o)", "LR201", True),  # a tuple target
    ("for (opt.lr, b) in pairs: pass\nmodel.compile(optimizer=o)", "LR201", True),
    ("f(opt.lr, 2)\nmodel.compile(optimizer=o)", "LR201", False),
    ("opt.lr.assign(0.1)\nx.optimizer", "LR201", True),
    ('"""model.load_weights(p)"""\nmodel.fit(x)', "LR001", False),  # the restore only in a docstring
    ("model.load_weights(p)\nmodel.fit(x)", "LR001", True),
    ("def fit(self, x, initial_epoch=0): pass", "LR002", False),  # a definition, not a call
    ("self.fit(x, initial_epoch=e)", "LR002", True),
])
def test_needs_on_small_texts(text: str, code: str, expected: bool) -> None:
    assert (code in needed(text, [code])) is expected


def test_a_code_without_a_need_falls_back_to_its_tokens() -> None:
    assert needed("anything", ["LR999"]) == ["LR999"]
    assert needed("anything", ["LR999"], {"LR999": ("zzz",)}) == []
    assert needed("a zzz b", ["LR999"], {"LR999": ("zzz",)}) == ["LR999"]
    assert set(NEEDS) <= set(all_codes())


def test_batches_hold_every_job_once_biggest_first() -> None:
    jobs = [((f"f{i}.py", f"f{i}.py", ("LR001",), True, None), size) for i, size in
            enumerate([10, 5000, 300, 40000, 7, 7, 120, 900, 65000, 3])]
    units = batches(jobs, workers=2)
    flat = [job for unit in units for job in unit]
    assert sorted(flat) == sorted(job for job, _ in jobs)
    assert flat[0][0] == "f8.py" and units[0] == [flat[0]]  # the biggest file alone, first
    sizes = dict((job[0], size) for job, size in jobs)
    assert [sizes[job[0]] for job in flat] == sorted(sizes.values(), reverse=True)
