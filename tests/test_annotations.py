"""NNI annotations: the search space NNI generated, code that runs under nnifc, located errors.

Expected search spaces are derived by hand from NNI 2.x `nni/tools/annotation/`
(`code_generator.py` and `search_space_generator.py`, the same rules as 1.x
`tools/nni_annotation/`): key `<module>/<name>/<function>`, where module is the file's path in
codeDir with dots and name is the `name=` expression as astor printed it; `choice` and
`function_choice` list each option's literal value, or its astor source text when it is not a
constant; `function_choice` has `_type` `choice`; other distributions list their literal numbers.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nnifc import document, space
from nnifc.annotations import HELPER_FILE, expand, runtime
from nnifc.annotations.astor_style import to_source
from nnifc.errors import ConfigError, Problem
from nnifc.metrics import OutputTail, metric_event, read_file
from nnifc.records import MetricReported, TrialSpec
from nnifc.wrapper import EXIT_NAME, LOG_NAME, SCRIPT, parameter_cfg, task_env

FIXTURES = Path(__file__).parent / "annotated"

# NNI's mnist-annotation example, rebuilt in numpy (tests/annotated/mnist/mnist.py), module `mnist`.
MNIST_SPACE = {
    # `name=self.conv_size`: astor prints the attribute as written; constants are kept as values
    "mnist/self.conv_size/choice": {"_type": "choice", "_value": [2, 3, 5, 7]},
    "mnist/self.hidden_size/choice": {"_type": "choice", "_value": [124, 512, 1024]},
    # numeric distributions: ast.literal_eval of each argument, type as written
    "mnist/self.learning_rate/loguniform": {"_type": "loguniform", "_value": [0.0001, 0.1]},
    # function_choice: `_type` choice, each call's source text (convert_args_to_dict)
    "mnist/relu/function_choice": {
        "_type": "choice",
        "_value": [
            "relu(conv2d(x_image, self.conv_size))",
            "tanh(conv2d(x_image, self.conv_size))",
            "sigmoid(conv2d(x_image, self.conv_size))",
        ],
    },
    "mnist/max_pool/function_choice": {
        "_type": "choice",
        "_value": ["max_pool(h_conv1, self.pool_size)", "avg_pool(h_conv1, self.pool_size)"],
    },
    "mnist/batch_size/choice": {"_type": "choice", "_value": [16, 32]},
    "mnist/dropout_rate/choice": {"_type": "choice", "_value": [0.5, 0.9]},
}

# tests/annotated/project: packages give dotted module names, `__init__.py` included.
PROJECT_SPACE = {
    "train/optimizer/choice": {"_type": "choice", "_value": ["sgd", "adam"]},
    "train/epochs/randint": {"_type": "randint", "_value": [1, 10]},
    # `-1` is not an ast.Constant, but literal_eval(astor's "(-1)") is -1
    "train/self.shift/uniform": {"_type": "uniform", "_value": [-1, 1.5]},
    "train/factor/quniform": {"_type": "quniform", "_value": [0, 1, 0.25]},
    "train/width/qloguniform": {"_type": "qloguniform", "_value": [1, 100, 1]},
    "train/noise/normal": {"_type": "normal", "_value": [0, 1]},
    "train/jitter/qnormal": {"_type": "qnormal", "_value": [0, 1, 0.5]},
    # in a choice, `-1` is a UnaryOp, so NNI stored astor's source text "(-1)"
    "models.__init__/sign/choice": {"_type": "choice", "_value": [0, "(-1)", 1]},
    "models.layers/activation/function_choice": {
        "_type": "choice",
        "_value": ["relu(x)", "gelu(x)", "math.tanh(x)"],
    },
    # None and True are ast.Constant on Python 3.8+: kept as values
    "models.layers/kind/choice": {"_type": "choice", "_value": ["relu", "gelu", None, True, 2.5]},
    "models.deep.blocks/scale/lognormal": {"_type": "lognormal", "_value": [0, 1]},
    "models.deep.blocks/steps/qlognormal": {"_type": "qlognormal", "_value": [0, 1, 1]},
}

PROJECT_PARAMS = {
    "train/optimizer/choice": "adam",
    "train/epochs/randint": 3,
    "train/self.shift/uniform": -0.5,
    "train/factor/quniform": 0.75,
    "train/width/qloguniform": 20.0,
    "train/noise/normal": 0.25,
    "train/jitter/qnormal": 0.5,
    "models.__init__/sign/choice": "(-1)",
    "models.layers/activation/function_choice": "gelu(x)",
    "models.layers/kind/choice": None,
    "models.deep.blocks/scale/lognormal": 2.0,
    "models.deep.blocks/steps/qlognormal": 3.0,
}

MNIST_PARAMS = {
    "mnist/self.conv_size/choice": 3,
    "mnist/self.hidden_size/choice": 124,
    "mnist/self.learning_rate/loguniform": 0.05,
    "mnist/relu/function_choice": "tanh(conv2d(x_image, self.conv_size))",
    "mnist/max_pool/function_choice": "avg_pool(h_conv1, self.pool_size)",
    "mnist/batch_size/choice": 16,
    "mnist/dropout_rate/choice": 0.9,
}


def copy_fixture(name: str, tmp_path: Path) -> Path:
    code = tmp_path / name
    shutil.copytree(FIXTURES / name, code, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def expand_source(tmp_path: Path, source: str, name: str = "main.py") -> dict[str, Any]:
    code = tmp_path / "code"
    (code / name).parent.mkdir(parents=True, exist_ok=True)
    (code / name).write_text(textwrap.dedent(source))
    return expand(code, tmp_path / "out")


def expanded_text(tmp_path: Path, source: str) -> str:
    expand_source(tmp_path, source)
    return (tmp_path / "out" / "main.py").read_text()


def problems_of(tmp_path: Path, source: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        expand_source(tmp_path, source)
    return caught.value.problems


def validated(raw: dict[str, Any], tmp_path: Path) -> space.SearchSpace:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(raw))
    return space.parse(document.load(path))


# --- search spaces ---------------------------------------------------------------------------


def test_mnist_example_gets_the_search_space_nni_generated(tmp_path: Path) -> None:
    generated = expand(copy_fixture("mnist", tmp_path), tmp_path / "out")
    assert generated == MNIST_SPACE
    assert validated(generated, tmp_path).contains(MNIST_PARAMS)


def test_packages_give_module_qualified_keys_in_every_scope(tmp_path: Path) -> None:
    # train.py has annotations at module level, in a class body, a method, a nested function
    # and inside if/else, for, try/finally and with blocks; models/ holds the package's own.
    generated = expand(copy_fixture("project", tmp_path), tmp_path / "out")
    assert generated == PROJECT_SPACE
    assert validated(generated, tmp_path).contains(PROJECT_PARAMS)


def test_choice_values_match_nni_own_test_case(tmp_path: Path) -> None:
    # NNI test/ut/tools/annotation/testcase: usercode/dir/simple.py and searchspace.json
    generated = expand_source(
        tmp_path,
        """\
        h_conv1 = 1
        \"\"\"@nni.variable(nni.choice('2',3,5*6,{1:2, '3':4},[1,2,3]),name=abc)\"\"\"
        abc = 5
        \"\"\"@nni.function_choice(max_poo(h_conv1), 2 * 3 + 4, lambda x: 1+x, name=max_poo)\"\"\"
        h_pool2 = max_poo(h_conv1)
        """,
        name="dir/simple.py",
    )
    assert generated == {
        "dir.simple/abc/choice": {
            "_type": "choice",
            "_value": ["2", 3, "(5 * 6)", "{(1): 2, '3': 4}", "[1, 2, 3]"],
        },
        "dir.simple/max_poo/function_choice": {
            "_type": "choice",
            "_value": ["max_poo(h_conv1)", "(2 * 3 + 4)", "(lambda x: 1 + x)"],
        },
    }


def test_every_distribution_keeps_its_type_and_literal_numbers(tmp_path: Path) -> None:
    numeric = {
        "randint": "0, 8",
        "uniform": "-0.5, 1e-1",
        "quniform": "0, 10, 2",
        "loguniform": "1e-4, 0.1",
        "qloguniform": "1, 1024, 1",
        "normal": "0, +1",
        "qnormal": "-1, 2.5, 0.5",
        "lognormal": "0.5, 1",
        "qlognormal": "0, 1, 1",
    }
    source = "".join(
        f'"""@nni.variable(nni.{kind}({args}), name=v_{kind})"""\nv_{kind} = 0\n'
        for kind, args in numeric.items()
    )
    generated = expand_source(tmp_path, source)
    assert generated == {
        f"main/v_{kind}/{kind}": {"_type": kind, "_value": list(ast.literal_eval(f"({args},)"))}
        for kind, args in numeric.items()
    }
    assert generated["main/v_uniform/uniform"]["_value"] == [-0.5, 0.1]


def test_same_name_same_distribution_is_one_shared_parameter(tmp_path: Path) -> None:
    generated = expand_source(
        tmp_path,
        """\
        '''@nni.variable(nni.choice(1, 2), name=x)'''
        x = 0
        def f():
            '''@nni.variable(nni.choice(1, 2), name=x)'''
            x = 0
            '''@nni.variable(nni.uniform(0, 1), name=x)'''
            x = 0
            return x
        """,
    )
    # the key includes the function, so choice and uniform named x are two parameters
    assert list(generated) == ["main/x/choice", "main/x/uniform"]


# --- generated code --------------------------------------------------------------------------


def test_generated_code_replaces_only_the_annotated_spots_keeping_lines(tmp_path: Path) -> None:
    source = '''\
        """Module doc."""
        from __future__ import annotations

        import os


        def train(x):
            """@nni.variable(nni.choice(0.1, 0.01), name=lr)"""
            lr = (
                0.1
            )
            """@nni.function_choice(relu(x), max(x, 0), name=act)"""
            y = relu(
                x
            ) + helper(relu(x))
            """@nni.report_intermediate_result(
                y * lr
            )"""; print("same line")
            return y
        '''
    helper = "_nnifc_annotation"
    act = (
        f"{helper}.function_choice('main/act/function_choice', "
        "{'relu(x)': lambda: relu(x), 'max(x, 0)': lambda: max(x, 0)}"
    )
    expected = f'''\
        """Module doc."""
        from __future__ import annotations; import {helper}

        import os


        def train(x):
            """@nni.variable(nni.choice(0.1, 0.01), name=lr)"""
            lr = (
                {helper}.choice('main/lr/choice', {{0.1: 0.1, 0.01: 0.01}})
            )
            """@nni.function_choice(relu(x), max(x, 0), name=act)"""
            y = {act}

            ) + helper(relu(x))
            {helper}.report_intermediate_result(y * lr

            ); print("same line")
            return y
        '''
    assert expanded_text(tmp_path, source) == textwrap.dedent(expected)


@pytest.mark.parametrize(
    ("source", "expected_head"),
    [
        # after the docstring, on its line
        ('"""Doc."""\nx = 1\n', '"""Doc."""; import _nnifc_annotation\nx = 1\n'),
        # before a first simple statement, on its line
        ("x = 1\n", "import _nnifc_annotation; x = 1\n"),
        # a comment line above a compound statement takes it; shebang and coding stay
        (
            "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n# note\n@dec\n# inner\ndef f(): pass\n",
            "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nimport _nnifc_annotation  # note\n"
            "@dec\n# inner\n",
        ),
        # no spare line: one line is added
        ("def f(): pass\n", "import _nnifc_annotation\ndef f(): pass\n"),
    ],
)
def test_helper_import_joins_an_existing_line(
    tmp_path: Path, source: str, expected_head: str
) -> None:
    text = expanded_text(tmp_path, source + '"""@nni.report_final_result(1)"""\n')
    assert text.startswith(expected_head)
    assert text.endswith("_nnifc_annotation.report_final_result(1)\n")


def test_annotation_in_docstring_position_still_expands(tmp_path: Path) -> None:
    text = expanded_text(tmp_path, '"""@nni.get_next_parameter()"""\nx = 1\n')
    assert text == "import _nnifc_annotation; _nnifc_annotation.get_next_parameter()\nx = 1\n"


def test_function_choice_replaces_outermost_matching_calls_only(tmp_path: Path) -> None:
    # NNI's FuncReplacer does not look inside calls: wrap(f(x)) keeps its f(x)
    text = expanded_text(
        tmp_path,
        """\
        '''@nni.function_choice(f(x), g(x), name=h)'''
        y = [f(x), wrap(f(x)), f(y)]
        """,
    )
    call = "_nnifc_annotation.function_choice('main/h/function_choice', {'f(x)': lambda: f(x), 'g(x)': lambda: g(x)})"
    assert text.splitlines()[1] == f"y = [{call}, wrap(f(x)), f(y)]"


def test_encoding_and_line_endings_are_kept(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    source = "# -*- coding: latin-1 -*-\r\nname = 'café'\r\n'''@nni.report_final_result(1)'''\r\n"
    (code / "main.py").write_bytes(source.encode("latin-1"))
    expand(code, tmp_path / "out")
    data = (tmp_path / "out" / "main.py").read_bytes()
    assert data.decode("latin-1").split("\r\n") == [
        "# -*- coding: latin-1 -*-",
        "import _nnifc_annotation; name = 'café'",
        "_nnifc_annotation.report_final_result(1)",
        "",
    ]


def test_files_without_annotations_are_copied_byte_for_byte(tmp_path: Path) -> None:
    code = copy_fixture("project", tmp_path)
    (code / "run.sh").write_text("#!/bin/sh\npython train.py\n")
    (code / "run.sh").chmod(0o755)
    out = tmp_path / "out"
    expand(code, out)
    plain = ["utils.py", "models/deep/__init__.py", "README.md", "data/labels.txt", "run.sh"]
    for relative in plain:
        assert (out / relative).read_bytes() == (code / relative).read_bytes(), relative
    assert os.access(out / "run.sh", os.X_OK)
    copied = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    originals = {p.relative_to(code).as_posix() for p in code.rglob("*")}
    helpers = {HELPER_FILE, f"models/{HELPER_FILE}", f"models/deep/{HELPER_FILE}"}
    assert copied == originals | helpers


def annotated_lines(source: str) -> set[int]:
    """Lines of each annotation string and of the statement after it."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, [])
            if not isinstance(body, list) or not body:
                continue  # empty, or a lambda's or conditional expression's body
            for stmt, after in zip(body, [*body[1:], None], strict=True):
                value = getattr(stmt, "value", None)
                if isinstance(value, ast.Constant) and str(value.value).startswith("@nni."):
                    last = stmt if after is None else after
                    lines.update(range(stmt.lineno, (last.end_lineno or 0) + 1))
    return lines


def test_rewritten_files_keep_their_line_numbers(tmp_path: Path) -> None:
    code = copy_fixture("project", tmp_path)
    expand(code, tmp_path / "out")
    for relative in ["train.py", "models/__init__.py", "models/layers.py", "models/deep/blocks.py"]:
        source = (code / relative).read_text()
        before, after = source.splitlines(), (tmp_path / "out" / relative).read_text().splitlines()
        assert len(after) == len(before), relative
        changed = {n for n, (a, b) in enumerate(zip(before, after, strict=True), 1) if a != b}
        helper_import = {n for n, line in enumerate(after, 1) if "import _nnifc_annotation" in line}
        assert len(helper_import) == 1
        assert changed <= annotated_lines(source) | helper_import, relative


def test_symlinks_are_copied_as_links_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("'''@nni.variable(nni.choice(1), name=s)'''\ns = 0\n")
    code = tmp_path / "code"
    (code / "lib").mkdir(parents=True)
    (code / "lib" / "real.py").write_text("'''@nni.report_final_result(1)'''\n")
    (code / "alias.py").symlink_to("lib/real.py")
    (code / "libdir").symlink_to(code / "lib")
    (code / "escape.py").symlink_to(outside / "secret.py")
    out = tmp_path / "out"
    assert expand(code, out) == {}  # the link to outside is never read
    assert os.readlink(out / "alias.py") == "lib/real.py"
    assert (out / "alias.py").read_text() == (out / "lib" / "real.py").read_text()
    assert os.readlink(out / "libdir") == "lib"
    assert os.readlink(out / "escape.py") == str(outside / "secret.py")


def test_out_dir_must_be_new_or_empty_and_outside_code_dir(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("x = 1\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError):
        expand(code, tmp_path / "full")
    with pytest.raises(ValueError, match="inside codeDir"):
        expand(code, code / "out")
    (tmp_path / "empty").mkdir()
    assert expand(code, tmp_path / "empty") == {}


# --- running the generated code the way nnifc runs trials ------------------------------------


def run_trial(
    out: Path, script: str, params: dict[str, Any], tmp_path: Path, *, with_nni: bool
) -> tuple[dict[str, Any], list[MetricReported]]:
    """Run `script` in the nnifc task wrapper with `params` in parameter.cfg, as the local platform does."""
    spec = TrialSpec("exp1", "trial1", 0, 7, params)
    sys_dir = tmp_path / "trial"
    sys_dir.mkdir()
    (sys_dir / "parameter.cfg").write_text(parameter_cfg(spec))
    command = f"{shlex.quote(sys.executable)} {script}"
    # an image without nni runs its trials with versionCheck: false, as the README says
    task = task_env(
        spec, sys_dir=sys_dir, task="local_0", command=command, workdir=out, version_check=with_nni
    )
    env = {**os.environ, **task}
    if not with_nni:  # an image without nni: the helper falls back to nnifc.trial
        blocker = tmp_path / "no-nni" / "nni"
        blocker.mkdir(parents=True)
        (blocker / "__init__.py").write_text("raise ImportError('no nni in this image')\n")
        env["PYTHONPATH"] = str(blocker.parent)
    subprocess.run(["sh", "-c", SCRIPT, "nnifc-wrapper"], env=env, cwd=out, timeout=120)
    output = sys_dir / "output" / "local_0"
    lines = list(OutputTail(read_file(str(output / LOG_NAME))).lines(final=True))
    log = "\n".join(line.text for line in lines)
    assert (output / EXIT_NAME).read_text().strip() == "0", log
    texts = [line.text for line in lines]
    used = [json.loads(t[len("USED ") :]) for t in texts if t.startswith("USED ")]
    assert len(used) == 1, log
    metrics = [metric_event("trial1", "local_0", line) for line in lines]
    return used[0], [m for m in metrics if m is not None]


@pytest.mark.parametrize("with_nni", [False, True], ids=["nnifc.trial", "nni"])
def test_expanded_mnist_trains_with_the_tuner_parameters(tmp_path: Path, with_nni: bool) -> None:
    out = tmp_path / "out"
    expand(copy_fixture("mnist", tmp_path), out)
    used, metrics = run_trial(out, "mnist.py", MNIST_PARAMS, tmp_path, with_nni=with_nni)
    assert used | {"final": None} == {
        "conv_size": 3,
        "hidden_size": 124,
        "learning_rate": 0.05,
        "activation": "tanh",
        "pool": "avg",
        "batch_size": 16,
        "dropout_rate": 0.9,
        "final": None,
    }
    intermediate = [m for m in metrics if not m.final]
    final = [m for m in metrics if m.final]
    assert len(intermediate) == 5  # batch_num 50, reported every 10 batches
    assert [m.value for m in final] == [used["final"]]


@pytest.mark.parametrize("with_nni", [False, True], ids=["nnifc.trial", "nni"])
def test_expanded_packages_run_with_the_tuner_parameters(tmp_path: Path, with_nni: bool) -> None:
    out = tmp_path / "out"
    expand(copy_fixture("project", tmp_path), out)
    used, metrics = run_trial(out, "train.py", PROJECT_PARAMS, tmp_path, with_nni=with_nni)
    result = used.pop("result")
    assert used == {
        "optimizer": "adam",
        "epochs": 3,
        "shift": -0.5,
        "factor": 0.75,
        "width": 20.0,  # epoch 2 is even
        "noise": 0.25,
        "jitter": 0.5,
        "sign": -1,  # the tuner sends "(-1)", the trial gets the option's value
        "activation": "gelu",
        "kind": None,
        "scale": 2.0,
        "steps": 3.0,
        "clean": "ok",
    }
    assert [m.final for m in metrics] == [False, False, False, True]
    assert metrics[-1].value == metrics[-2].value == result
    assert json.loads(metrics[-1].raw) == {"default": result, "activation": "gelu"}


def test_helper_maps_values_to_options_and_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = {"m/x/choice": "(-1)", "m/f/function_choice": "g()", "m/lr/uniform": 0.5}
    monkeypatch.setitem(runtime._cache, "parameters", params)
    assert runtime.choice("m/x/choice", {0: 0, "(-1)": -1}) == -1
    calls: list[str] = []
    chosen = runtime.function_choice(
        "m/f/function_choice", {"f()": lambda: calls.append("f"), "g()": lambda: calls.append("g")}
    )
    assert (chosen, calls) == (None, ["g"])  # only the chosen option runs
    assert runtime.parameter("m/lr/uniform") == 0.5
    with pytest.raises(KeyError, match="no parameter 'm/y/choice'"):
        runtime.choice("m/y/choice", {1: 1})
    with pytest.raises(KeyError, match=r"'\(-1\)' is not one of \[0, 1\]"):
        runtime.choice("m/x/choice", {0: 0, 1: 1})


# --- errors ----------------------------------------------------------------------------------

ERRORS = [
    (
        "syntax error inside the annotation",
        "x = 1\n'''@nni.variable(nni.choice(1, 2), name=)'''\ny = 2\n",
        2,
        "syntax error in annotation",
    ),
    ("unknown nni function", "'''@nni.varaible(nni.choice(1), name=y)'''\ny = 1\n", 1, "unknown annotation @nni.varaible"),
    ("unknown distribution", "'''@nni.variable(nni.choise(1), name=y)'''\ny = 1\n", 1, "unknown distribution nni.choise"),
    ("missing name=", "\n'''@nni.variable(nni.choice(1, 2))'''\ny = 1\n", 2, "needs name="),
    ("function_choice without name=", "'''@nni.function_choice(f(), g())'''\ny = f()\n", 1, "needs name="),
    ("extra keyword", "'''@nni.variable(nni.choice(1), name=y, key=2)'''\ny = 1\n", 1, "not key="),
    ("not a call", "'''@nni.variable'''\ny = 1\n", 1, "must be a call"),
    ("two expressions", "'''@nni.report_final_result(1); x = 2'''\n", 1, "one expression"),
    ("nothing annotated", "def f():\n    y = 1\n    '''@nni.variable(nni.choice(1), name=y)'''\n", 3, "followed by the statement"),
    ("annotating an annotation", "'''@nni.variable(nni.choice(1), name=y)'''\n'''@nni.report_final_result(1)'''\n", 1, "not by another string"),
    ("variable before a non-assignment", "'''@nni.variable(nni.choice(1), name=y)'''\nprint(y)\n", 1, "followed by an assignment"),
    ("variable naming another target", "\n\n'''@nni.variable(nni.choice(1), name=y)'''\nz = 1\n", 3, "names y but line 4 assigns z"),
    ("function_choice matching nothing", "'''@nni.function_choice(f(), g(), name=h)'''\ny = k()\n", 1, "calls none of the options"),
    ("non-number arguments", "'''@nni.variable(nni.uniform(0, '1'), name=y)'''\ny = 1\n", 1, "must be number literals"),
    ("expression arguments", "'''@nni.variable(nni.uniform(0, 2 ** 3), name=y)'''\ny = 1\n", 1, "must be number literals"),
    ("wrong number of arguments", "'''@nni.variable(nni.quniform(0, 1), name=y)'''\ny = 1\n", 1, "takes 3 numbers"),
    ("option that is not JSON", "'''@nni.variable(nni.choice(b'x'), name=y)'''\ny = 1\n", 1, "not JSON"),
    ("choice without options", "'''@nni.variable(nni.choice(), name=y)'''\ny = 1\n", 1, "at least one option"),
    ("report without metric", "'''@nni.report_final_result()'''\n", 1, "exactly one argument"),
    ("NAS annotation", "'''@nni.mutable_layers({'layer_choice': [f()], 'layer_output': y})'''\n", 1, "NAS"),
    ("annotation inside a function_choice statement", "'''@nni.function_choice(f(), g(), name=h)'''\nfor i in f():\n    '''@nni.report_final_result(i)'''\n", 3, "not supported"),
    ("file that is not Python", "x = 1\ndef f(:\n", 2, "not valid Python"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_each_mistake_is_a_located_config_error(
    tmp_path: Path, source: str, line: int, message: str
) -> None:
    problems = problems_of(tmp_path, source)
    assert len(problems) == 1, problems
    assert problems[0].file == tmp_path / "code" / "main.py"
    assert problems[0].line == line
    assert message in problems[0].message
    assert not (tmp_path / "out").exists()  # nothing is written when anything is wrong


def test_syntax_error_column_points_into_the_annotation(tmp_path: Path) -> None:
    line = "    '''@nni.variable(nni.choice(1, 2), name=)'''"
    [problem] = problems_of(tmp_path, f"if True:\n{line}\n    y = 1\n")
    assert (problem.line, problem.column) == (2, line.index(")'''") + 1)
    assert str(problem).startswith(f"{tmp_path / 'code' / 'main.py'}:2:{problem.column}: ")


def test_every_problem_in_every_file_is_reported(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "main.py").write_text(
        "'''@nni.variable(nni.choice(1), name=a)'''\nb = 1\n'''@nni.oops()'''\n"
    )
    (code / "pkg" / "broken.py").write_text("def (:\n")
    (code / "pkg" / "bad.py").write_bytes(b"x = '\xff'\n")
    with pytest.raises(ConfigError) as caught:
        expand(code, tmp_path / "out")
    found = {(p.file.relative_to(code).as_posix(), p.line) for p in caught.value.problems}
    assert found == {("main.py", 1), ("main.py", 3), ("pkg/broken.py", 1), ("pkg/bad.py", 0)}
    assert "(and 3 more)" in str(caught.value)


def test_one_name_with_two_distributions_names_both_places(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "a").mkdir(parents=True)
    twice = "'''@nni.variable(nni.choice(1, 2), name=x)'''\nx = 0\n"
    (code / "a" / "b.py").write_text(twice)
    (code / "a.b.py").write_text("\n" + twice.replace("1, 2", "1, 3"))  # also module a.b
    with pytest.raises(ConfigError) as caught:
        expand(code, tmp_path / "out")
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (code / "a.b.py", 2, "a.b/x/choice")
    assert "already defined differently at a/b.py:1 (choice(1, 2))" in problem.message


def test_helper_module_name_must_be_free(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("'''@nni.report_final_result(1)'''\n")
    (code / HELPER_FILE).write_text("")
    with pytest.raises(ConfigError, match="rename this"):
        expand(code, tmp_path / "out")


# --- security --------------------------------------------------------------------------------


def test_annotations_are_parsed_never_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the expander evaluated code")

    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    source = f"""\
        '''@nni.variable(nni.choice({payload}, 2), name=x)'''
        x = 1
        '''@nni.function_choice({payload}, f(), name=g)'''
        y = f()
        '''@nni.report_final_result({payload})'''
        """
    numbers = f"'''@nni.variable(nni.uniform(0, {payload}), name=x)'''\nx = 1\n"
    with monkeypatch.context() as patched:
        patched.setattr(builtins, "eval", refuse)
        patched.setattr(builtins, "exec", refuse)
        generated = expand_source(tmp_path, source)
        with pytest.raises(ConfigError) as caught:
            expand_source(tmp_path / "2", numbers)
    assert generated["main/x/choice"]["_value"] == [payload, 2]
    assert "number literals" in str(caught.value)
    assert not marker.exists()


# --- astor's spelling ------------------------------------------------------------------------

ASTOR_CASES = [
    "tf.nn.relu",
    "self.conv_size",
    "x[0]",
    "max_pool(h_conv1, self.pool_size)",
    "tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')",
    "5 * 6",
    "2 * 3 + 4",
    "-1",
    "-1.5",
    "not a",
    "a if b else c",
    "x < 3",
    "lambda x: 1 + x",
    "lambda: 0",
    "{1: 2, '3': 4}",
    "{-1: 1, 'a': {2.5: None}}",
    "[1, 2, 3]",
    "(1, 2)",
    "(1,)",
    "{1, 2}",
    "f(x for x in y)",
    "f(*args, key=lambda v: -v, **kw)",
    "[2j]",
    "'2'",
    "(a, b)",
]


@pytest.mark.parametrize("expression", ASTOR_CASES)
def test_source_text_is_spelled_as_astor_spelled_it(expression: str) -> None:
    astor = pytest.importorskip("astor")  # nni 2.x's dependency, installed with nni 3.0
    node = ast.parse(expression, mode="eval").body
    assert to_source(node) == astor.to_source(node).strip()
