"""Typed readers for values parsed from TOML (persona files and CA definitions).

Every reader takes the table, the key and a dotted ``where`` prefix naming the table, and
raises :class:`FieldError` naming the full field (``pins.auth.max_tries``) when the value is
missing or of the wrong type. Messages name types, never values, so a reader is safe to use on
secret fields; callers add the file name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path

Table = Mapping[str, object]


class FieldError(ValueError):
    """A field is missing, has the wrong type or an invalid value (message names the field)."""


def field_name(where: str, key: str) -> str:
    """The dotted name of ``key`` inside the table ``where`` (``""`` is the top level)."""
    return f"{where}.{key}" if where else key


def _type_name(value: object) -> str:
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _get(table: Table, key: str, where: str) -> object:
    if key not in table:
        raise FieldError(f"{field_name(where, key)}: required field is missing")
    return table[key]


def _wrong_type(where: str, key: str, expected: str, value: object) -> FieldError:
    return FieldError(f"{field_name(where, key)}: must be {expected}, found {_type_name(value)}")


def check_keys(table: Table, allowed: Iterable[str], where: str) -> None:
    """Reject keys that the schema does not know (typos would otherwise be silently ignored)."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        names = ", ".join(field_name(where, key) for key in unknown)
        raise FieldError(f"unknown field(s): {names}")


def sub_table(table: Table, key: str, where: str) -> Table:
    value = _get(table, key, where)
    if not isinstance(value, Mapping):
        raise _wrong_type(where, key, "a table", value)
    return value


def optional_sub_table(table: Table, key: str, where: str) -> Table | None:
    return sub_table(table, key, where) if key in table else None


def table_array(table: Table, key: str, where: str) -> list[Table]:
    value = _get(table, key, where)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise _wrong_type(where, key, "an array of tables", value)
    return list(value)


def string(table: Table, key: str, where: str) -> str:
    value = _get(table, key, where)
    if not isinstance(value, str):
        raise _wrong_type(where, key, "a string", value)
    return value


def optional_string(table: Table, key: str, where: str) -> str | None:
    return string(table, key, where) if key in table else None


def integer(table: Table, key: str, where: str) -> int:
    value = _get(table, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(where, key, "an integer", value)
    return value


def integer_in_range(table: Table, key: str, where: str, low: int, high: int) -> int:
    value = integer(table, key, where)
    if not low <= value <= high:
        raise FieldError(f"{field_name(where, key)}: must lie between {low} and {high}")
    return value


def boolean(table: Table, key: str, where: str) -> bool:
    value = _get(table, key, where)
    if not isinstance(value, bool):
        raise _wrong_type(where, key, "true or false", value)
    return value


def optional_boolean(table: Table, key: str, where: str, default: bool = False) -> bool:
    return boolean(table, key, where) if key in table else default


def utc_datetime(table: Table, key: str, where: str) -> dt.datetime:
    """An offset date-time (``2024-08-26T01:23:45Z``), returned in UTC."""
    value = _get(table, key, where)
    expected = "an offset date-time such as 2024-08-26T01:23:45Z"
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise FieldError(f"{field_name(where, key)}: must be {expected}, found no UTC offset")
    if not isinstance(value, dt.datetime):
        raise _wrong_type(where, key, expected, value)
    return value.astimezone(dt.UTC)


def optional_utc_datetime(table: Table, key: str, where: str) -> dt.datetime | None:
    return utc_datetime(table, key, where) if key in table else None


def local_date(table: Table, key: str, where: str) -> dt.date:
    """A TOML local date (``1985-08-20``), not a date-time."""
    value = _get(table, key, where)
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _wrong_type(where, key, "a local date such as 1985-08-20", value)
    return value


def relative_path(table: Table, key: str, where: str, base: Path) -> Path:
    """A path string, resolved relative to the directory ``base`` (returned absolute)."""
    text = string(table, key, where)
    if not text:
        raise FieldError(f"{field_name(where, key)}: must not be empty")
    return (base / text).resolve()
