from __future__ import annotations

import json

import pytest

from capsa.fastjson import JSONError, dumps, loads

SAMPLES = [
    {},
    [],
    {"a": [1, 2.5, None, True, False, 'x\u00e9"\\\n'], "b": {"c": []}},
    "text",
    -12,
    {"nested": {"deep": [{"k": "v"}] * 3}},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_round_trip_matches_the_json_module(value: object) -> None:
    assert loads(dumps(value)) == value
    assert json.loads(dumps(value, indent=2)) == value
    assert dumps(value, indent=2) == json.dumps(value, indent=2)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": }', "column 7"),
        ('{"a": 1} x', "column 10"),
        ("", "column 1"),
        ('{"a": 1,\n "b"}', "line 2"),
    ],
)
def test_errors_say_where(text: str, where: str) -> None:
    with pytest.raises(JSONError) as caught:
        loads(text)
    assert where in str(caught.value)
