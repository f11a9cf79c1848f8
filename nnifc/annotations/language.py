"""One annotation string, `@nni.<function>(...)`, as a typed value: its parameter and its code.

The rules are NNI's (nni/tools/annotation in NNI 2.x, tools/nni_annotation in 1.x):
`code_generator.py` turned each annotation into a call into `nni.smartparam`, and
`search_space_generator.py` derived the search space from those calls:

- a parameter's key is `<module>/<name>/<function>`: the module path relative to codeDir with
  dots (`pkg.model`), the `name=` expression as astor printed it (`self.conv_size`), and the
  function as written (`choice`, `function_choice`, `uniform`, ...);
- `choice` and `function_choice` store each option's literal value when the option is a
  constant, else its source text (`tf.nn.relu`, `(5 * 6)`, `(-1)`); the trial maps the value
  the tuner sends back to the option through a dict keyed by those same values;
- `function_choice` becomes a parameter of `_type` `choice`; the other distributions keep their
  type and need number literals as arguments (`_value` is their `ast.literal_eval`).

The annotation text is only ever parsed with `ast`; nothing in it is evaluated here.
"""

from __future__ import annotations

import ast
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, TypeAlias

from nnifc.annotations.astor_style import to_source

HELPER = "_nnifc_annotation"  # the module the generated code calls; see runtime.py

ARITY = {
    "randint": 2,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
DISTRIBUTIONS = ("choice", *ARITY)
STATEMENTS = ("report_intermediate_result", "report_final_result", "get_next_parameter")
NAS = ("mutable_layers", "training_update")
KNOWN = ("variable", "function_choice", *STATEMENTS, *NAS)


class AnnotationError(Exception):
    """A mistake at 1-based `line`, 0-based `column` of the annotation text after its `@`."""

    def __init__(self, message: str, node: ast.AST | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = getattr(node, "lineno", 1)
        self.column = getattr(node, "col_offset", 0)


@dataclass(frozen=True)
class Parameter:
    """One search-space entry, exactly as NNI's search_space_generator produced it."""

    key: str
    type: str
    values: tuple[Any, ...]

    def spec(self) -> dict[str, Any]:
        return {"_type": self.type, "_value": list(self.values)}


@dataclass(frozen=True)
class Option:
    """A choice's option: the value the search space lists and the code it stands for."""

    value: Any  # a JSON scalar: the option's literal value or its source text
    code: str

    @property
    def value_code(self) -> str:
        return ast.unparse(ast.Constant(self.value))


@dataclass(frozen=True)
class Statement:
    """report_intermediate_result, report_final_result or get_next_parameter: runs in place."""

    function: str
    arguments: tuple[ast.expr, ...]

    def code(self) -> str:
        return f"{HELPER}.{self.function}({', '.join(map(ast.unparse, self.arguments))})"


@dataclass(frozen=True)
class Variable:
    """`@nni.variable(nni.<distribution>(...), name=<target>)` before `<target> = ...`."""

    target: ast.expr
    parameter: Parameter
    options: tuple[Option, ...]  # choice only

    def code(self) -> str:
        if not self.options:
            return f"{HELPER}.parameter({self.parameter.key!r})"
        items = ", ".join(f"{o.value_code}: {o.code}" for o in self.options)
        return f"{HELPER}.choice({self.parameter.key!r}, {{{items}}})"


@dataclass(frozen=True)
class FunctionChoice:
    """`@nni.function_choice(f(a), g(b), name=n)` before a statement that calls one of them."""

    parameter: Parameter
    options: tuple[Option, ...]
    calls: frozenset[str]  # ast.dump of each option: the calls in the statement to replace

    def code(self) -> str:
        items = ", ".join(f"{o.value_code}: lambda: {o.code}" for o in self.options)
        return f"{HELPER}.function_choice({self.parameter.key!r}, {{{items}}})"


Annotation: TypeAlias = Statement | Variable | FunctionChoice


def parse(text: str, module: str) -> Annotation:
    """The annotation `text` (the string without its leading `@`) in file `module`."""
    call = _call(text)
    function = _nni_function(call.func)
    if function not in KNOWN:
        raise AnnotationError(f"unknown annotation @nni.{function}", call)
    if function in NAS:
        raise AnnotationError(
            f"@nni.{function} is NNI's NAS annotation; nnifc supports only hyperparameter "
            "annotations (variable, function_choice, report_*, get_next_parameter)",
            call,
        )
    if function == "variable":
        return _variable(call, module)
    if function == "function_choice":
        return _function_choice(call, module)
    return _statement(call, function)


def _call(text: str) -> ast.Call:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except SyntaxError as e:
        error = AnnotationError(f"syntax error in annotation: {e.msg}")
        error.line, error.column = e.lineno or 1, max((e.offset or 1) - 1, 0)
        raise error from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        raise AnnotationError("an annotation must be one expression: @nni.<function>(...)")
    call = tree.body[0].value
    if not isinstance(call, ast.Call):
        raise AnnotationError("an annotation must be a call: @nni.<function>(...)", call)
    return call


def _nni_function(func: ast.expr) -> str:
    match func:
        case ast.Attribute(value=ast.Name(id="nni"), attr=attr):
            return attr
    raise AnnotationError(f"{ast.unparse(func)} is not an nni function", func)


def _statement(call: ast.Call, function: str) -> Statement:
    wanted = 0 if function == "get_next_parameter" else 1
    if call.keywords or len(call.args) != wanted or _starred(call.args):
        shape = "no arguments" if wanted == 0 else "exactly one argument, the metric"
        raise AnnotationError(f"@nni.{function} takes {shape}", call)
    return Statement(function, tuple(call.args))


def _name(call: ast.Call, function: str) -> ast.expr:
    """The `name=` argument, NNI's only keyword for variable and function_choice."""
    names = [k for k in call.keywords if k.arg == "name"]
    others = [k for k in call.keywords if k.arg != "name"]
    if others:
        spelled = f"{others[0].arg}=" if others[0].arg else "**"
        raise AnnotationError(f"@nni.{function} takes only the keyword name=, not {spelled}", call)
    if not names:
        raise AnnotationError(f"@nni.{function} needs name=<the name of the parameter>", call)
    return names[0].value


def _variable(call: ast.Call, module: str) -> Variable:
    target = _name(call, "variable")
    if len(call.args) != 1:
        raise AnnotationError(
            "@nni.variable takes one distribution, e.g. nni.choice(1, 2), and name=", call
        )
    dist = call.args[0]
    if not isinstance(dist, ast.Call):
        raise AnnotationError("the value of @nni.variable must be nni.<distribution>(...)", dist)
    function = _nni_function(dist.func)
    if function not in DISTRIBUTIONS:
        raise AnnotationError(
            f"unknown distribution nni.{function}; use one of {', '.join(DISTRIBUTIONS)}", dist
        )
    if dist.keywords:
        raise AnnotationError(f"nni.{function} takes no keyword arguments here", dist)
    key = f"{module}/{to_source(target)}/{function}"
    if function == "choice":
        options = _options(dist, function)
        return Variable(target, Parameter(key, "choice", _values(options)), options)
    return Variable(target, Parameter(key, function, _numbers(dist, function)), ())


def _function_choice(call: ast.Call, module: str) -> FunctionChoice:
    name = _name(call, "function_choice")
    options = _options(call, "function_choice")
    key = f"{module}/{to_source(name)}/function_choice"
    calls = frozenset(ast.dump(a) for a in call.args)
    return FunctionChoice(Parameter(key, "choice", _values(options)), options, calls)


def _options(call: ast.Call, function: str) -> tuple[Option, ...]:
    if not call.args:
        raise AnnotationError(f"nni.{function} needs at least one option", call)
    if _starred(call.args):
        raise AnnotationError(f"write the options of nni.{function} out one by one", call)
    return tuple(_option(arg) for arg in call.args)


def _option(node: ast.expr) -> Option:
    if not isinstance(node, ast.Constant):
        # NNI: astor.to_source(arg).strip('\n"'), the option's source text
        return Option(to_source(node).strip('\n"'), ast.unparse(node))
    if node.value is not None and not isinstance(node.value, str | int | float):
        raise AnnotationError(
            f"option {ast.unparse(node)} cannot be a search-space value (not JSON)", node
        )
    return Option(node.value, ast.unparse(node))


def _values(options: tuple[Option, ...]) -> tuple[Any, ...]:
    return tuple(o.value for o in options)


def _numbers(call: ast.Call, function: str) -> tuple[Any, ...]:
    arity = ARITY[function]
    if len(call.args) != arity or _starred(call.args):
        raise AnnotationError(f"nni.{function} takes {arity} numbers", call)
    return tuple(_number(arg, function) for arg in call.args)


def _number(node: ast.expr, function: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        value = None
    if not isinstance(value, numbers.Real):
        raise AnnotationError(
            f"the arguments of nni.{function} must be number literals, not {ast.unparse(node)}",
            node,
        )
    return value


def _starred(args: list[ast.expr]) -> bool:
    return any(isinstance(a, ast.Starred) for a in args)
