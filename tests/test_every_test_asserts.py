"""Every test asserts something that can fail: a test that only runs code passes whatever the
code returns. Checked on the source: each ``test_*`` function holds an ``assert``, a
``pytest.raises`` / ``warns`` / ``fail``, ``torch.testing.assert_close`` or numpy's ``assert_*``, or
calls a function of tests/ that does (such as ``run_entry_point``, which asserts the exit code)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# pytest.raises / warns / fail, torch.testing.assert_close and numpy.testing.assert_*
ASSERTING_CALLS = {
    "raises",
    "warns",
    "fail",
    "assert_close",
    "assert_allclose",
    "assert_array_equal",
}


def called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def asserts_itself(node: ast.AST) -> bool:
    has_assert = any(isinstance(child, ast.Assert) for child in ast.walk(node))
    return has_assert or bool(called_names(node) & ASSERTING_CALLS)


def functions() -> list[tuple[Path, ast.FunctionDef]]:
    return [
        (path, node)
        for path in sorted(TESTS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.FunctionDef)
    ]


def asserting_functions(defined: list[tuple[Path, ast.FunctionDef]]) -> set[str]:
    """Names of the functions of tests/ that assert, themselves or through one that does."""
    asserting = {node.name for _, node in defined if asserts_itself(node)}
    grew = True
    while grew:
        new = {
            n.name for _, n in defined if n.name not in asserting and called_names(n) & asserting
        }
        asserting |= new
        grew = bool(new)
    return asserting


def test_every_test_function_asserts_something() -> None:
    defined = functions()
    asserting = asserting_functions(defined)
    tests = [(path, node) for path, node in defined if node.name.startswith("test_")]
    silent = [
        f"{path.relative_to(TESTS)}:{node.lineno} {node.name}"
        for path, node in tests
        if node.name not in asserting
    ]
    assert len(tests) > 250  # the walk found the suite (300 test functions when written)
    assert not silent, "tests that assert nothing:\n" + "\n".join(silent)


def test_the_check_finds_a_test_that_asserts_nothing() -> None:
    source = (
        "def helper():\n    assert True\n\ndef test_a():\n    helper()\n\ndef test_b():\n    pass\n"
    )
    defined = [(TESTS, node) for node in ast.parse(source).body]
    assert asserting_functions(defined) == {"helper", "test_a"}
