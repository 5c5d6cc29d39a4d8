"""Config dataclasses to and from JSON-ready dicts (config.json, trainer_state.json)."""
from dataclasses import asdict, fields


class DictConfig:
    """Mixin for a config dataclass: to_dict / from_dict, where an unknown key is an error that
    names it (a typo in a config file must not be silently ignored)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)
