"""Reading JSON that a person or another program wrote: every way it can fail (not UTF-8, not
JSON, nested deeper than the parser's recursion allows) is a ValueError naming the source, never
a traceback from the json module."""
import json
import os
from pathlib import Path


def parse_json(text: str | bytes, source: str) -> object:
    """The value of JSON text (bytes are decoded as UTF-8); source names it in errors ("x.json",
    "x.jsonl: line 3")."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{source}: not valid JSON (not UTF-8 text: {error})") from None
    except RecursionError:
        raise ValueError(f"{source}: not valid JSON here (nested too deeply to read)") from None


def read_json(path: str | os.PathLike) -> object:
    """The value of the JSON file at path (see parse_json); OSError if it cannot be read."""
    return parse_json(Path(path).read_bytes(), str(path))
