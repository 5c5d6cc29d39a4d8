"""metrics.jsonl: one JSON object per log step of a run, appended as training goes.

Each line: {"step": updates done, "lr": learning rate of the last update, "train_loss": mean
training loss of the updates since the previous line, "tokens_per_second": training throughput
over those updates, "val_loss": mean validation loss (only on evaluation steps)}.
"""
import json
import os
from pathlib import Path

from llm.util.atomic import atomic_write
from llm.util.json_file import parse_json


def read(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics.jsonl file ([] if it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        records.append(parse_json(line, f"{path}: line {number}"))
    return records


class MetricsLog:
    """Appends records to a metrics.jsonl file, one flushed line each."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop the records past `step` (written after the checkpoint a run resumes from)."""
        kept = [record for record in read(self.path) if record["step"] <= step]
        with atomic_write(self.path, "w", encoding="utf-8") as file:
            file.write("".join(json.dumps(record) + "\n" for record in kept))

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
