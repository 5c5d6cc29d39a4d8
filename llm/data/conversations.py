"""Conversations in the ShareGPT / LimaRP-augmented format, as JSON or JSON Lines.

A file holds records, each one conversation:

    JSON    [{"conversations": [{"from": "system", "value": "..."},
                                {"from": "human", "value": "..."},
                                {"from": "gpt", "value": "..."}, ...]}, ...]
    JSONL   one such record per line (blank lines are skipped)

The OpenAI-style spelling of a record, {"messages": [{"role": "user", "content": "..."}]}, is
read too. Other keys of a record (an id, a source) are ignored. Role names are normalised to
three: "system", "user" (human, user) and "assistant" (gpt, assistant, model, bot).
A malformed file is a ValueError naming the file, the record (JSON: its index; JSONL: its
line) and the field at fault.
"""
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from llm.util.json_file import parse_json

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
ROLES = {"system": SYSTEM, "human": USER, "user": USER,
         "gpt": ASSISTANT, "assistant": ASSISTANT, "model": ASSISTANT, "bot": ASSISTANT}
# (list key, role key, text key) of the spellings a record may use.
SPELLINGS = (("conversations", "from", "value"), ("messages", "role", "content"))


@dataclass(frozen=True)
class Turn:
    """One message: role is SYSTEM, USER or ASSISTANT; text is the message as written."""

    role: str
    text: str


@dataclass(frozen=True)
class Conversation:
    """The turns of one record, in order."""

    turns: tuple[Turn, ...]

    def __len__(self) -> int:
        return len(self.turns)

    def __iter__(self):
        return iter(self.turns)


def load_conversations(path: str | os.PathLike) -> list[Conversation]:
    """The conversations of a .json (a list of records) or .jsonl file (one record per line).

    The format is chosen by the content, not the suffix: a file whose first non-blank
    character is "[" is JSON, anything else JSON Lines.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error}); conversations are JSON") from None
    if text.lstrip().startswith("["):
        records = parse_json(text, str(path))
        if not records:
            raise ValueError(f"{path}: the list holds no conversations")
        return [parse_record(record, f"{path}: record {index}")
                for index, record in enumerate(records)]
    conversations = []
    # Split on "\n" only: str.splitlines would also cut at U+2028, U+0085, ... which JSON
    # allows raw inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = parse_json(line, where)
        except ValueError as error:
            raise ValueError(f"{error}; JSON Lines hold one record per line, and a JSON file "
                             "must be a list of records") from None
        conversations.append(parse_record(record, where))
    if not conversations:
        raise ValueError(f"{path}: no conversations in the file; expected a JSON list or JSON "
                         "Lines of {\"conversations\": [...]} records")
    return conversations


def parse_record(record, where: str) -> Conversation:
    """The Conversation of one decoded record; where names it in errors."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object with a \"conversations\" list, got "
                         f"{type(record).__name__}")
    spelling = next((s for s in SPELLINGS if s[0] in record), None)
    if spelling is None:
        raise ValueError(f"{where}: no \"conversations\" (or \"messages\") field; it has "
                         f"{sorted(record) or 'no fields'}")
    list_key, role_key, text_key = spelling
    messages = record[list_key]
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: \"{list_key}\" must be a non-empty list of turns")
    turns = []
    for index, message in enumerate(messages):
        field = f"{where}: {list_key}[{index}]"
        if not isinstance(message, dict):
            raise ValueError(f"{field}: expected an object with \"{role_key}\" and "
                             f"\"{text_key}\", got {type(message).__name__}")
        for key, kind in ((role_key, "role"), (text_key, "text")):
            if not isinstance(message.get(key), str):
                found = "missing" if key not in message else type(message[key]).__name__
                raise ValueError(f"{field}.{key}: the turn's {kind} must be a string "
                                 f"({found})")
        role = ROLES.get(message[role_key].strip().lower())
        if role is None:
            raise ValueError(f"{field}.{role_key}: unknown role {message[role_key]!r}; "
                             f"expected one of {sorted(ROLES)}")
        turns.append(Turn(role, message[text_key]))
    return Conversation(tuple(turns))


def describe(conversations: list[Conversation]) -> dict:
    """Counts for a summary: conversations, turns, turns per role, characters per role."""
    turns = Counter(turn.role for conversation in conversations for turn in conversation)
    characters = Counter()
    for conversation in conversations:
        for turn in conversation:
            characters[turn.role] += len(turn.text)
    return {"conversations": len(conversations), "turns": sum(turns.values()),
            "turns_by_role": dict(sorted(turns.items())),
            "characters_by_role": dict(sorted(characters.items()))}
