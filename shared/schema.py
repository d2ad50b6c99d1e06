"""A small declarative validator for JSON bodies and queue payloads.

Why not pydantic: it would be the heaviest import of the app (cold start) for a handful of flat objects. Errors are
:class:`~shared.errors.AppError` with code ``validation_failed`` and the dotted path of the field at fault; the value
the caller sent is never echoed. The one piece of caller text an error names is an unexpected key, since that key
is the field at fault: escaped and bounded, in the error body only (never in telemetry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.correlation import escape
from shared.errors import AppError, ErrorCode


@dataclass(frozen=True)
class Field:
    name: str
    kind: type | Schema
    required: bool = True
    max_length: int = 256
    pattern: str | None = None
    choices: frozenset[str] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any, path: str) -> Any:
        if isinstance(self.kind, Schema):
            return self.kind.parse(value, prefix=f"{path}.")
        if self.kind is int:
            return self._integer(value, path)
        if not isinstance(value, self.kind):
            raise _invalid(path, f"must be {_NAMES.get(self.kind, self.kind.__name__)}")
        if isinstance(value, str):
            return self._string(value, path)
        if isinstance(value, (list, dict)) and len(value) > self.max_length:
            raise _invalid(path, f"must have at most {self.max_length} items")
        return value

    def _integer(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(path, "must be an integer")
        if self.minimum is not None and value < self.minimum:
            raise _invalid(path, f"must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise _invalid(path, f"must be <= {self.maximum}")
        return value

    def _string(self, value: str, path: str) -> str:
        if not value.strip():
            raise _invalid(path, "must not be empty")
        if len(value) > self.max_length:
            raise _invalid(path, f"must be at most {self.max_length} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise _invalid(path, "has an invalid format")
        if self.choices is not None and value not in self.choices:
            raise _invalid(path, f"must be one of {', '.join(sorted(self.choices))}")
        return value


_NAMES = {str: "a string", dict: "an object", list: "an array", bool: "true or false", float: "a number"}


class Schema:
    def __init__(self, name: str, *fields: Field, allow_extra: bool = False) -> None:
        self.name = name
        self.fields = fields
        self.allow_extra = allow_extra

    def parse(self, data: object, prefix: str = "") -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise _invalid(prefix.rstrip(".") or "body", "must be a JSON object")
        known = {f.name for f in self.fields}
        extra = sorted(str(k) for k in data if k not in known)
        if extra and not self.allow_extra:
            raise _invalid(f"{prefix}{escape(extra[0])}", "is not an accepted field")
        result: dict[str, Any] = {}
        for field in self.fields:
            path = f"{prefix}{field.name}"
            if field.name not in data or data[field.name] is None:
                if field.required:
                    raise _invalid(path, "is required")
                continue
            result[field.name] = field.check(data[field.name], path)
        return result


def _invalid(path: str, problem: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_FAILED, f"field '{path}' {problem}", field=path)
