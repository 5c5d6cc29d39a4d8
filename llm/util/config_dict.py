"""Config dataclasses to and from JSON-ready dicts (config.json, trainer_state.json)."""
import types
import typing
from dataclasses import asdict, fields


class DictConfig:
    """Mixin for a config dataclass: to_dict / from_dict, where an unknown key or a value of
    the wrong JSON type is an error that names it (a typo or a hand edit in a config file must
    not be silently ignored, nor coerced, nor end in a TypeError deep inside)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        if not isinstance(values, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object of settings, got "
                             f"{type(values).__name__}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; known keys: "
                             f"{sorted(known)}")
        hints = typing.get_type_hints(cls)
        for key, value in values.items():
            expected = json_types(hints[key])
            if expected and not isinstance_json(value, expected):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
                raise ValueError(f"{cls.__name__}.{key} is {value!r}; expected {names}")
        return cls(**values)


def json_types(hint) -> tuple[type, ...]:
    """The plain types a field annotated `hint` takes (int, float | None, ...); () for others,
    which are not checked here."""
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    plain = (int, float, str, bool, type(None))
    return members if all(member in plain for member in members) else ()


def isinstance_json(value, expected: tuple[type, ...]) -> bool:
    """isinstance as JSON reads it: true and false are not numbers; an integer is a float."""
    if isinstance(value, bool):
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return type(value) in expected
