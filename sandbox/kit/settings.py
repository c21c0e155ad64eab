"""Knobs an emulator can change at run time (`GET|PATCH /_sandbox/config`): a dataclass of typed values.

An emulator subclasses `Settings` with its own fields and defaults (token lifetimes, credit pools, page sizes,
cursor lifetimes); values are read at each call, so a PATCH takes effect at once. Unknown names are refused
and values are converted to the field's type (a JSON 3 becomes 3.0 for a float knob).
"""

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Settings:
    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown settings: {unknown}")
        for name, value in values.items():
            current = getattr(self, name)
            setattr(self, name, type(current)(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
