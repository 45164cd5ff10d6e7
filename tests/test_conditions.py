"""Conditions (conditions.py): a safe expression language, parsed with ast, never eval'd."""

from __future__ import annotations

import pytest

from taskloom import Condition, ConditionError, ConditionEvalError, register_function

VALUES = {"n": 5, "name": "ada", "tags": ["x", "y"], "user": {"age": 20, "roles": ["admin"]},
          "none": None}


@pytest.mark.parametrize(("text", "expected"), [
    ("n > 3", True),
    ("n > 3 and name == 'ada'", True),
    ("n > 9 or not tags", False),
    ("1 < n <= 5", True),
    ("user.age >= 18", True),
    ("'admin' in user.roles", True),
    ("'z' not in tags", True),
    ("tags[0] == 'x' and tags[-1] == 'y'", True),
    ("user['age'] == 20", True),
    ("len(tags) == 2 and len(name) > 2", True),
    ("none is None and n is not None", True),
    ("n in [1, 2, 5]", True),
    ("-n < 0", True),
    ("True", True),
    ("  n == 5  ", True),
])
def test_expressions_evaluate_like_python(text, expected):
    assert Condition(text).evaluate(VALUES) is expected


@pytest.mark.parametrize(("text", "column", "what"), [
    ("n >", 4, "does not parse"),
    ("__import__('os').system('echo hi')", 1, "a call other than len"),
    ("__import__", 1, "'__import__'"),
    ("user.__class__", 5, ".__class__"),
    ("n + 1 > 2", 1, "arithmetic"),
    ("open('f')", 1, "a call other than len"),
    ("len(tags, 2)", 1, "a call other than len"),
    ("[x for x in tags]", 1, "a comprehension"),
    ("(lambda: 1)()", 1, "a call other than len"),
    ("n if n else 0", 1, "if/else"),
    ("tags[0:1]", 1, "a slice"),
    ("n is 5", 1, "`is` with anything but None"),
    ("name == f'{n}'", 9, "an f-string"),
    ("(y := 3)", 2, "an assignment"),
    ("   n + 1", 4, "arithmetic"),
])
def test_anything_outside_the_allowlist_is_refused_with_its_column(text, column, what):
    with pytest.raises(ConditionError) as caught:
        Condition(text)
    assert caught.value.column == column, str(caught.value)
    assert what in str(caught.value) and f"column {column}" in str(caught.value)


def test_empty_long_and_deep_conditions_are_refused():
    for text, what in [("", "empty"), ("  ", "empty"), ("n == 1 or " * 300 + "n", "long"),
                       ("not " * 80 + "n", "nested")]:
        with pytest.raises(ConditionError, match=what):
            Condition(text)
    with pytest.raises(ConditionError, match="expression string"):
        Condition(3)  # type: ignore[arg-type]


def test_evaluation_errors_name_the_field():
    with pytest.raises(ConditionEvalError, match=r"no field 'missing'.*the fields are: "):
        Condition("missing > 1").evaluate(VALUES)
    with pytest.raises(ConditionEvalError, match=r"\.age of a str"):
        Condition("name.age > 1").evaluate(VALUES)
    with pytest.raises(ConditionEvalError, match="cannot index a list with 5"):
        Condition("tags[5] == 'x'").evaluate(VALUES)
    with pytest.raises(ConditionEvalError, match="cannot compare str with int"):
        Condition("name > 1").evaluate(VALUES)


def test_a_registered_function_is_a_condition_by_its_name():
    @register_function("tests.is_even")
    def is_even(values):
        return values["n"] % 2 == 0

    condition = Condition({"function": "tests.is_even"})
    assert condition.evaluate({"n": 4}) is True and condition.evaluate({"n": 5}) is False
    assert condition.to_json() == {"function": "tests.is_even"}
    assert condition.names() == set()
    assert Condition("a.b > c and len(d)").names() == {"a", "c", "d"}
    with pytest.raises(Exception, match="not registered"):
        Condition({"function": "tests.nowhere"})
    with pytest.raises(ConditionError, match="must be"):
        Condition({"function": "tests.is_even", "extra": 1})
