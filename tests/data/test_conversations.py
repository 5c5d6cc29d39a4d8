"""Conversations: ShareGPT / LimaRP JSON and JSONL, role names, malformed files."""
import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from llm.cli import main
from llm.data import Conversation, Turn, load_conversations
from llm.data.conversations import ROLES, describe

FIXTURES = Path(__file__).parent / "fixtures"


def test_sharegpt_json_gives_turns_with_normalised_roles():
    conversations = load_conversations(FIXTURES / "conversations.json")
    assert len(conversations) == 3
    first = conversations[0]
    assert [turn.role for turn in first] == ["system", "user", "assistant", "user", "assistant"]
    assert first.turns[1] == Turn("user", "Is the lamp lit tonight?")
    assert conversations[1] == Conversation((Turn("user", "Count to three, please."),
                                             Turn("assistant", "One, two, three.")))
    third = conversations[2]
    assert third.turns[0].text == "A patient tutor.\nExplain with one example."
    assert [turn.role for turn in third] == ["system", "user", "assistant"]
    assert third.turns[1].text.endswith("✓")


def test_jsonl_skips_blank_lines_and_reads_the_messages_spelling():
    conversations = load_conversations(FIXTURES / "conversations.jsonl")
    assert conversations == [
        Conversation((Turn("user", "Ping?"), Turn("assistant", "Pong."))),
        Conversation((Turn("system", "Terse."), Turn("user", "Hi"), Turn("assistant", "Hello."))),
    ]


def test_role_names_are_matched_without_case_or_padding(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": " Human", "value": "a"},
                                                  {"from": "GPT", "value": "b"}]}))
    assert [turn.role for turn in load_conversations(path)[0]] == ["user", "assistant"]


@pytest.mark.parametrize("content, message", [
    ('[{"conversations": []}]', r"c.json: record 0: \"conversations\" must be a non-empty list"),
    ('[{"id": 1}]', r"record 0: no \"conversations\" \(or \"messages\"\) field; it has \['id'\]"),
    ('[["human", "hi"]]', "record 0: expected an object with a \"conversations\" list, got list"),
    ('[{"conversations": [{"from": "human", "value": "a"}, {"from": "narrator", "value": "b"}]}]',
     r"record 0: conversations\[1\].from: unknown role 'narrator'; expected one of"),
    ('[{"conversations": [{"from": "human"}]}]',
     r"conversations\[0\].value: the turn's text must be a string \(missing\)"),
    ('[{"conversations": [{"from": "gpt", "value": 3}]}]',
     r"conversations\[0\].value: the turn's text must be a string \(int\)"),
    ('[{"conversations": ["hi"]}]', r"conversations\[0\]: expected an object with \"from\""),
    ('[{"conversations": [{"from": "gpt", "value": "a"}]},', "c.json: not valid JSON"),
    ('[]', "c.json: the list holds no conversations"),
])
def test_malformed_json_names_the_record_and_field(tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_conversations(path)


@pytest.mark.parametrize("content, message", [
    ('{"conversations": [{"from": "human", "value": "a"}]}\n{"conversations": 5}\n',
     r"c.jsonl: line 2: \"conversations\" must be a non-empty list"),
    ('{"conversations": [{"from": "human", "value": "a"}]}\n\n{oops}\n',
     "line 3: not valid JSON .*one record per line"),
    ('\n\n', "no conversations in the file"),
    ('{"messages": [{"role": "user", "text": "a"}]}',
     r"line 1: messages\[0\].content: the turn's text must be a string \(missing\)"),
])
def test_malformed_jsonl_names_the_line(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_conversations(path)


turns = st.lists(st.tuples(st.sampled_from(sorted(ROLES)), st.text()), min_size=1, max_size=5)


@given(records=st.lists(turns, min_size=1, max_size=4), jsonl=st.booleans())
@example(records=[[("human", "line\u2028separator\x85next\x1cfile\r\n")]], jsonl=True)
def test_any_valid_file_round_trips(tmp_path_factory, records, jsonl):
    data = [{"conversations": [{"from": role, "value": text} for role, text in record]}
            for record in records]
    path = tmp_path_factory.mktemp("c") / "c.data"
    lines = [json.dumps(record, ensure_ascii=False) for record in data]   # raw U+2028 etc.
    path.write_text("\n".join(lines) if jsonl else json.dumps(data, ensure_ascii=False),
                    encoding="utf-8")
    loaded = load_conversations(path)
    assert [[(turn.role, turn.text) for turn in conversation] for conversation in loaded] == \
        [[(ROLES[role], text) for role, text in record] for record in records]


def test_describe_counts_turns_and_characters_by_role():
    counts = describe(load_conversations(FIXTURES / "conversations.jsonl"))
    assert counts == {"conversations": 2, "turns": 5,
                      "turns_by_role": {"assistant": 2, "system": 1, "user": 2},
                      "characters_by_role": {"assistant": 11, "system": 6, "user": 7}}


def test_cli_info_summarises_a_conversation_file(tmp_path, capsys):
    assert main(["--log-file", str(tmp_path / "log"), "data", "info",
                 str(FIXTURES / "conversations.json")]) == 0
    assert json.loads(capsys.readouterr().out)["turns_by_role"] == \
        {"assistant": 4, "system": 2, "user": 4}
