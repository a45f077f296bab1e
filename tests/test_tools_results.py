"""to_json_compatible: every kind of value a tool may return, as JSON."""

import dataclasses
import datetime as dt
import enum
import json
import math
import sys
import uuid
from collections import OrderedDict, deque
from decimal import Decimal
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from mistral_nb._tool_results import DEFAULT_MAX_BYTES, to_json_compatible


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1


class Shade(enum.StrEnum):
    DARK = "dark"


@dataclasses.dataclass
class Point:
    x: float
    y: float
    tags: tuple[str, ...] = ()


class Reading(BaseModel):
    city: str
    at: dt.datetime
    color: Color = Color.RED
    where: Point | None = None


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


WHEN = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)

CASES = [
    (None, None),
    (True, True),
    (False, False),
    (0, 0),
    (2**70, 2**70),
    (10**4300 - 1, 10**4300 - 1),  # the most digits json.dumps writes by default
    (10**4300, "<integer of 4301 digits>"),
    (1 - 10**5000, "<negative integer of 5000 digits>"),
    ({10**5000: 1}, {"<integer of 5001 digits>": 1}),
    (1.5, 1.5),
    (float("nan"), None),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
    ("héllo", "héllo"),
    ({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}),
    (  # True and 1 are one key: the later value wins
        {1: "one", None: "none"} | {True: "yes", 2.5: "x"},
        {"1": "yes", "null": "none", "2.5": "x"},
    ),
    ({(1, 2): "pair", Color.RED: 1, WHEN.date(): 2}, {"[1, 2]": "pair", "red": 1, "2024-05-01": 2}),
    (OrderedDict(b=1, a=2), {"b": 1, "a": 2}),
    ([1, (2, 3)], [1, [2, 3]]),
    ((1, "a"), [1, "a"]),
    ({3, 1, 2}, [1, 2, 3]),
    (frozenset({"b", "a"}), ["a", "b"]),
    (deque([1, 2]), [1, 2]),
    (Point(1.0, 2.0, ("a",)), {"x": 1.0, "y": 2.0, "tags": ["a"]}),
    (
        Reading(city="Paris", at=WHEN, where=Point(1, 2)),
        {
            "city": "Paris",
            "at": "2024-05-01T12:30:00+00:00",
            "color": "red",
            "where": {"x": 1.0, "y": 2.0, "tags": []},
        },
    ),
    (WHEN, "2024-05-01T12:30:00+00:00"),
    (dt.datetime(2024, 5, 1, 8), "2024-05-01T08:00:00"),
    (dt.date(2024, 5, 1), "2024-05-01"),
    (dt.time(8, 15, 30), "08:15:30"),
    (dt.timedelta(hours=1, minutes=30), "PT1H30M"),
    (dt.timedelta(days=2, seconds=5), "P2DT5S"),
    (Decimal("3.14159265358979323846"), "3.14159265358979323846"),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    (PurePosixPath("/tmp/a.txt"), "/tmp/a.txt"),
    (Color.GREEN, "green"),
    (Level.LOW, 1),
    (Shade.DARK, "dark"),
    (b"abc", {"type": "bytes", "size": 3, "base64": "YWJj"}),
    (bytearray(b"\x00\xff"), {"type": "bytes", "size": 2, "base64": "AP8="}),
    (memoryview(b"hi"), {"type": "bytes", "size": 2, "base64": "aGk="}),
    (
        b"x" * (DEFAULT_MAX_BYTES + 1),
        {
            "type": "bytes",
            "size": DEFAULT_MAX_BYTES + 1,
            "omitted": "binary data larger than 1024 bytes is not included",
        },
    ),
    (np.int64(7), 7),
    (np.float32(0.5), 0.5),
    (np.float64("nan"), None),
    (np.bool_(True), True),
    (np.str_("s"), "s"),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    (np.array([1.0, np.nan]), [1.0, None]),
    (np.datetime64("2024-05-01T12:00"), "2024-05-01T12:00"),
    (np.datetime64("NaT"), None),
    (pd.Timestamp("2024-05-01 12:00"), "2024-05-01T12:00:00"),
    (pd.Timedelta(minutes=90), "PT1H30M"),
    (pd.NaT, None),
    (pd.NA, None),
    (pd.Series([1.5, np.nan]), [1.5, None]),
    (pd.Series({"a": 1, "b": 2}), {"a": 1, "b": 2}),
    (pd.Index(["x", "y"]), ["x", "y"]),
    (Opaque(), "<Opaque thing>"),
    (BadRepr(), "<BadRepr object (repr failed)>"),
    (print, "<built-in function print>"),
]


@pytest.mark.parametrize(("value", "expected"), CASES, ids=[type(v).__name__ for v, _ in CASES])
def test_each_kind_of_value(value, expected):
    encoded = to_json_compatible(value)
    assert encoded == expected
    assert type(encoded) is type(expected)
    json.dumps(encoded, allow_nan=False)


def test_a_dataframe_becomes_records_with_missing_values_as_none():
    frame = pd.DataFrame(
        {
            "city": ["Paris", None],
            "temperature": [21.5, np.nan],
            "when": [pd.Timestamp("2024-05-01"), pd.NaT],
            "count": [1, 2],
        }
    )
    assert to_json_compatible(frame) == [
        {"city": "Paris", "temperature": 21.5, "when": "2024-05-01T00:00:00", "count": 1},
        {"city": None, "temperature": None, "when": None, "count": 2},
    ]


def test_a_dataframe_keeps_a_meaningful_index_as_columns():
    frame = pd.DataFrame({"temperature": [21, 18]}, index=pd.Index(["Paris", "Oslo"], name="city"))
    assert to_json_compatible(frame) == [
        {"city": "Paris", "temperature": 21},
        {"city": "Oslo", "temperature": 18},
    ]
    assert to_json_compatible(pd.DataFrame()) == []


def test_cycles_and_deep_nesting_do_not_crash():
    items: list = [1]
    items.append(items)
    assert to_json_compatible(items) == [1, "<cycle>"]
    shared = [1]
    assert to_json_compatible([shared, shared]) == [[1], [1]]  # shared is not a cycle
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    json.dumps(to_json_compatible(deep))


def test_a_long_integer_follows_the_interpreters_digit_limit():
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert to_json_compatible(10**639) == 10**639
        assert to_json_compatible(10**640) == "<integer of 641 digits>"
    finally:
        sys.set_int_max_str_digits(limit)


def test_max_bytes_is_adjustable():
    assert to_json_compatible(b"abcd", max_bytes=2)["omitted"] == (
        "binary data larger than 2 bytes is not included"
    )


def test_unsortable_sets_keep_some_order():
    assert sorted(to_json_compatible({1, "a"}), key=str) == [1, "a"]


def test_a_model_with_an_unserializable_field_is_still_encoded():
    class Holder(BaseModel, arbitrary_types_allowed=True):
        thing: Opaque
        number: float = math.inf

    assert to_json_compatible(Holder(thing=Opaque())) == {
        "thing": "<Opaque thing>",
        "number": "Infinity",
    }


def test_path_subclasses():
    assert to_json_compatible(Path("a") / "b") == str(Path("a") / "b")
