"""llm/util/json_file.py: every way a JSON file can be bad is a ValueError naming it."""
import pytest

from llm.util.json_file import parse_json, read_json


@pytest.mark.parametrize("content, message", [
    (b"{\"a\": 1,", r"x\.json: not valid JSON \(Expecting"),
    (b'{"a": "\xff"}', r"x\.json: not valid JSON \(not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, r"x\.json: not valid JSON here \(nested too deeply"),
    (b"{\"a\": " * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
])
def test_bad_json_is_a_value_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_json(path)


def test_parse_json_names_its_source_and_reads_good_json():
    assert parse_json(b'{"a": [1, 2.5, null]}', "s") == {"a": [1, 2.5, None]}
    with pytest.raises(ValueError, match="^log.jsonl: line 3: not valid JSON"):
        parse_json("{", "log.jsonl: line 3")
