"""Keras flavour from the project's dependency pins (lraudit/scan/project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lraudit.scan.names import Flavour
from lraudit.scan.project import clear_cache, parse_pins, pinned_flavour, project_pins
from lraudit.scan.rules import BY_CODE
from lraudit.scan.runner import facts_for, scan_file

TF_SCRIPT = "import tensorflow as tf\nopt = tf.keras.optimizers.SGD(lr=0.1)\n"
KERAS_SCRIPT = "import keras\nopt = keras.optimizers.SGD(lr=0.1)\n"


@pytest.mark.parametrize("text,kind,script,want", [
    ("tensorflow==2.15.0\n", "requirements", TF_SCRIPT, Flavour.KERAS2),
    ("tensorflow==2.15.*\n", "requirements", TF_SCRIPT, Flavour.KERAS2),
    ("tensorflow<2.16\n", "requirements", TF_SCRIPT, Flavour.KERAS2),
    ("tensorflow>=2.16\n", "requirements", TF_SCRIPT, Flavour.KERAS3),
    ("tensorflow[and-cuda]~=2.17.0\n", "requirements", TF_SCRIPT, Flavour.KERAS3),
    ("tensorflow>=2.10\n", "requirements", TF_SCRIPT, Flavour.UNKNOWN),
    ("tensorflow\n", "requirements", TF_SCRIPT, Flavour.UNKNOWN),
    ("tensorflow>=2.16\ntf_keras>=2.16\n", "requirements", TF_SCRIPT, Flavour.KERAS2),
    ("keras>=3\n", "requirements", KERAS_SCRIPT, Flavour.KERAS3),
    ("keras==2.15.0\n", "requirements", KERAS_SCRIPT, Flavour.KERAS2),
    ("tensorflow==2.18.0\n", "requirements", KERAS_SCRIPT, Flavour.KERAS3),
    ("tensorflow-gpu==1.15\n", "requirements", TF_SCRIPT, Flavour.KERAS2),
    ('[project]\nname="x"\ndependencies = ["tensorflow>=2.16,<2.19"]\n', "toml", TF_SCRIPT, Flavour.KERAS3),
    ('[tool.poetry.dependencies]\ntensorflow = "~2.15"\n', "toml", TF_SCRIPT, Flavour.KERAS2),
    ('[tool.poetry.dependencies]\ntensorflow = "^2.15"\n', "toml", TF_SCRIPT, Flavour.UNKNOWN),
    ("[options]\ninstall_requires =\n    tensorflow==2.13.1\n", "cfg", TF_SCRIPT, Flavour.KERAS2),
    ("dependencies:\n  - tensorflow=2.15\n", "conda", TF_SCRIPT, Flavour.KERAS2),
    ("dependencies:\n  - pip:\n    - keras>=3.3\n", "conda", KERAS_SCRIPT, Flavour.KERAS3),
    ('setup(install_requires=["tensorflow>=2.16"], description="Keras models")', "setup.py", TF_SCRIPT,
     Flavour.KERAS3),
])
def test_pins_decide_the_flavour(text: str, kind: str, script: str, want: Flavour) -> None:
    facts = facts_for(script)
    assert pinned_flavour(parse_pins(text, kind), facts.imports) is want


def test_prose_mentioning_keras_pins_nothing() -> None:
    pins = parse_pins('[project]\nname = "x"\ndescription = "Keras 2 tools"\ndependencies = ["numpy"]\n', "toml")
    assert pins.empty


def _project(tmp_path: Path, requirements: str, script: str) -> Path:
    clear_cache()
    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements.txt").write_text(requirements)
    sub = tmp_path / "src" / "train"
    sub.mkdir(parents=True)
    path = sub / "train.py"
    path.write_text(script)
    return path


def test_nearest_file_above_the_script_is_used(tmp_path: Path) -> None:
    path = _project(tmp_path, "tensorflow==2.15.1\n", TF_SCRIPT)
    pins = project_pins(path)
    assert pins is not None and pins.tensorflow == ((2, 15), (2, 16))
    (path.parent / "requirements-dev.txt").write_text("tensorflow>=2.16\n")
    clear_cache()
    assert project_pins(path).tensorflow[0] == (2, 16)


LR_READ = "import tensorflow as tf\nopt = tf.keras.optimizers.SGD(0.1)\nprint(opt.lr)\n"


def test_pins_change_how_a_flavour_dependent_rule_reports(tmp_path: Path) -> None:
    rules = [BY_CODE["LR501"]]  # `.lr`: an error on Keras 3, fine on Keras 2
    (tmp_path / "a").mkdir()
    k3 = _project(tmp_path / "a", "tensorflow>=2.16\n", LR_READ)
    (found,) = scan_file(k3, "train.py", rules).findings
    assert str(found.severity) == "error"
    (tmp_path / "b").mkdir()
    k2 = _project(tmp_path / "b", "tensorflow==2.15\n", LR_READ)
    assert scan_file(k2, "train.py", rules).findings == []
    (found,) = scan_file(k2, "train.py", rules, target_keras="3").findings
    assert str(found.severity) == "error"
    (tmp_path / "c").mkdir()
    unknown = _project(tmp_path / "c", "tensorflow>=2.10\n", LR_READ)
    (found,) = scan_file(unknown, "train.py", rules).findings
    assert str(found.severity) == "warning"


def test_imports_that_prove_a_flavour_beat_the_pins(tmp_path: Path) -> None:
    script = "import tf_keras as keras\nopt = keras.optimizers.SGD(0.1)\nprint(opt.lr)\n"
    path = _project(tmp_path, "tensorflow>=2.16\n", script)
    assert scan_file(path, "train.py", [BY_CODE["LR501"]]).findings == []
