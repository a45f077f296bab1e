"""Turn whatever a tool returns into a value that ``json.dumps`` accepts.

pipecat sends a tool's result to the model as ``json.dumps(result)``, and the turn
log stores the same thing, so both go through :func:`to_json_compatible`. It never
raises: a value it does not know becomes its ``repr``.

=====================================  ===============================================
Python value                           JSON-compatible value
=====================================  ===============================================
None, bool, int, str                   itself (subclasses become the plain type)
int too long for ``json.dumps``        ``"<integer of 5001 digits>"`` (more digits than
                                       ``sys.get_int_max_str_digits()``, 4300 by default)
float                                  itself; NaN -> None, ±inf -> "Infinity"/"-Infinity"
dict / Mapping                         dict; keys become strings (``1`` -> ``"1"``)
list, tuple, set, frozenset, deque     list (sets sorted when their items sort)
dataclass instance                     dict of its fields
pydantic model                         dict of its fields (``model_dump()``), encoded
datetime, date, time                   ISO 8601 string
timedelta                              ISO 8601 duration, e.g. ``"PT1H30M"``
Decimal, UUID, Path                    string (a Decimal keeps every digit)
Enum                                   its value, encoded
bytes, bytearray, memoryview           ``{"type": "bytes", "size": n, "base64": ...}``,
                                       the data left out above ``max_bytes``
numpy scalar / array                   Python number / nested lists
pandas DataFrame                       list of row dicts (a meaningful index becomes
                                       columns); NaN/NaT/NA -> None
pandas Series                          list (default index) or {index: value}
anything else                          ``repr(value)``
=====================================  ===============================================
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import math
import sys
import uuid
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import pydantic
import pydantic_core

__all__ = ["DEFAULT_MAX_BYTES", "to_json_compatible"]

#: Bytes up to this size are sent base64-encoded; above it only their size is sent.
DEFAULT_MAX_BYTES = 1024


def to_json_compatible(value: Any, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Return ``value`` as plain JSON data: dicts, lists, strings, numbers, bools, None.

    The result always passes ``json.dumps(result, allow_nan=False)``. See the module
    docstring for the rule applied to each kind of value.

    Args:
        value: Anything a tool may return.
        max_bytes: Binary data up to this many bytes is included base64-encoded;
            larger data is described by its size only (a model cannot use it).

    Returns:
        The JSON-compatible value.

    Example:
        >>> to_json_compatible({"when": dt.date(2024, 5, 1), "ids": {3, 1}})
        {'when': '2024-05-01', 'ids': [1, 3]}
    """
    return _Encoder(max_bytes).encode(value)


class _Encoder:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.path: set[int] = set()  # ids of the containers being encoded, to stop cycles

    def encode(self, value: Any) -> Any:
        try:
            return self._encode(value)
        except RecursionError:
            return "<too deeply nested to encode>"

    def _encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, enum.Enum):
            return self._encode(value.value)
        if isinstance(value, int):
            return _int(int(value))
        if isinstance(value, float):
            return _float(float(value))
        if isinstance(value, str):
            return str(value)
        special = self._special(value)
        if special is not _UNKNOWN:
            return special
        if isinstance(value, Mapping | list | tuple | set | frozenset | deque):
            return self._container(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._container(value)
        if isinstance(value, pydantic.BaseModel):
            return self._container(value)
        return _repr(value)

    def _special(self, value: Any) -> Any:
        """Scalars with a standard textual form, numpy and pandas values."""
        pandas = sys.modules.get("pandas")
        if pandas is not None and (value is pandas.NaT or value is pandas.NA):
            return None
        if isinstance(value, dt.datetime | dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, dt.timedelta):
            # A plain timedelta: pandas' Timedelta is a subclass pydantic does not know.
            plain = dt.timedelta(value.days, value.seconds, value.microseconds)
            return pydantic_core.to_jsonable_python(plain)
        if isinstance(value, Decimal | uuid.UUID | PurePath):
            return str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return self._bytes(bytes(value))
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            if isinstance(value, numpy.datetime64 | numpy.timedelta64):
                return None if numpy.isnat(value) else str(value)
            if isinstance(value, numpy.generic):
                return self._encode(value.item())
            if isinstance(value, numpy.ndarray):
                return self._encode(value.tolist())
        if pandas is not None:
            if isinstance(value, pandas.DataFrame):
                return self._dataframe(value, pandas)
            if isinstance(value, pandas.Series):
                return self._series(value, pandas)
            if isinstance(value, pandas.Index):
                return self._encode(value.tolist())
        return _UNKNOWN

    def _container(self, value: Any) -> Any:
        if id(value) in self.path:
            return "<cycle>"
        self.path.add(id(value))
        try:
            if isinstance(value, pydantic.BaseModel):
                return self._model(value)
            if dataclasses.is_dataclass(value):
                return {
                    f.name: self._encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                }
            if isinstance(value, Mapping):
                return {self._key(k): self._encode(v) for k, v in value.items()}
            if isinstance(value, set | frozenset):
                try:
                    value = sorted(value)
                except TypeError:
                    pass
            return [self._encode(item) for item in value]
        finally:
            self.path.discard(id(value))

    def _model(self, model: pydantic.BaseModel) -> Any:
        # Python mode, then our own rules: a model's datetimes, floats and bytes come out
        # the same as anywhere else.
        try:
            data = model.model_dump(warnings="none")
        # A field serializer may raise anything: take the attributes as they are.
        except Exception:  # noqa: BLE001
            data = {name: getattr(model, name, None) for name in type(model).model_fields}
        return self._encode(data)

    def _key(self, key: Any) -> str:
        encoded = self._encode(key)
        if isinstance(encoded, str):
            return encoded
        return json.dumps(encoded, ensure_ascii=False, allow_nan=False)

    def _bytes(self, data: bytes) -> dict[str, Any]:
        if len(data) <= self.max_bytes:
            return {"type": "bytes", "size": len(data), "base64": base64.b64encode(data).decode()}
        return {
            "type": "bytes",
            "size": len(data),
            "omitted": f"binary data larger than {self.max_bytes} bytes is not included",
        }

    def _dataframe(self, frame: Any, pandas: Any) -> Any:
        if not _is_default_index(frame.index, pandas):
            frame = frame.reset_index()
        frame = frame.astype(object).where(frame.notna(), None)
        return self._encode(frame.to_dict(orient="records"))

    def _series(self, series: Any, pandas: Any) -> Any:
        series = series.astype(object).where(series.notna(), None)
        if _is_default_index(series.index, pandas):
            return self._encode(series.tolist())
        return self._encode(series.to_dict())


_UNKNOWN = object()


def _int(value: int) -> int | str:
    # json.dumps writes an int with str(), which refuses more digits than
    # sys.get_int_max_str_digits(): try the same conversion, and say what the number is.
    # That limit is never under 640 digits, so the usual small int skips the conversion.
    if value.bit_length() <= 2000:
        return value
    try:
        str(value)
    except ValueError:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1  # at most one too many
        if abs(value) < 10 ** (digits - 1):
            digits -= 1
        return f"<{'negative ' if value < 0 else ''}integer of {digits} digits>"
    return value


def _float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _is_default_index(index: Any, pandas: Any) -> bool:
    return (
        isinstance(index, pandas.RangeIndex)
        and index.name is None
        and index.start == 0
        and index.step == 1
    )


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a user's __repr__ may raise anything; never raise here
        return f"<{type(value).__qualname__} object (repr failed)>"
