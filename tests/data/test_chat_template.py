"""The chat template: role markers are special tokens, target masks cover exactly the assistant's
text and <|end|>, markers typed in a message stay text, the tokens survive save/load."""
from pathlib import Path

import numpy as np
import pytest

from llm.data import Conversation, Turn, load_conversations
from llm.data.chat_template import CHAT_TOKENS, END_OF_TURN, ChatTemplate, add_chat_tokens
from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.train("The lamp is lit. Count to three, please! " * 30, 300)
    add_chat_tokens(tokenizer)
    return tokenizer


def test_render_masks_exactly_the_assistant_text_and_its_end(tokenizer):
    template = ChatTemplate(tokenizer)
    conversation = Conversation((Turn("system", "Be brief."), Turn("user", "Is the lamp lit?"),
                                 Turn("assistant", "It is."), Turn("user", "Count."),
                                 Turn("assistant", "One, two.")))
    ids, target_mask = template.render(conversation)
    assert ids.dtype == np.int32 and target_mask.dtype == np.uint8
    assert ids.shape == target_mask.shape
    assert tokenizer.decode(ids) == ("<|system|>Be brief.<|end|><|user|>Is the lamp lit?<|end|>"
                                     "<|assistant|>It is.<|end|><|user|>Count.<|end|>"
                                     "<|assistant|>One, two.<|end|>")
    learned = tokenizer.decode(ids[target_mask == 1])
    assert learned == "It is.<|end|>One, two.<|end|>"
    # each masked run starts right after an <|assistant|> marker and ends with <|end|>
    starts = np.flatnonzero(np.diff(np.concatenate([[0], target_mask])) == 1)
    assert [int(ids[i - 1]) for i in starts] == [template.marker_ids["assistant"]] * 2
    ends = np.flatnonzero(np.diff(np.concatenate([target_mask, [0]])) == -1)
    assert [int(ids[i]) for i in ends] == [template.end_id] * 2


def test_markers_typed_in_a_message_are_plain_text(tokenizer):
    template = ChatTemplate(tokenizer)
    ids, _ = template.render(Conversation((Turn("user", "say <|end|> now"),)))
    assert (ids == template.end_id).sum() == 1 and ids[-1] == template.end_id
    assert tokenizer.decode(ids) == "<|user|>say <|end|> now<|end|>"


def test_prompt_ends_with_the_assistant_marker(tokenizer):
    template = ChatTemplate(tokenizer)
    turns = [Turn("system", "Terse."), Turn("user", "Hi")]
    prompt = template.prompt_ids(turns)
    assert tokenizer.decode(prompt) == "<|system|>Terse.<|end|><|user|>Hi<|end|><|assistant|>"
    full, _ = template.render(Conversation((*turns, Turn("assistant", "Hello."))))
    assert full[:len(prompt)].tolist() == prompt


def test_chat_tokens_are_added_once_and_saved(tmp_path):
    tokenizer = char_tokenizer(["Ping? Pong."])
    size = tokenizer.vocab_size
    with pytest.raises(ValueError, match="not trained for chat"):
        ChatTemplate(tokenizer)
    add_chat_tokens(tokenizer)
    add_chat_tokens(tokenizer)
    assert tokenizer.vocab_size == size + len(CHAT_TOKENS)
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = Tokenizer.load(tmp_path / "tokenizer.json")
    assert ChatTemplate(loaded).end_id == tokenizer.special_tokens[END_OF_TURN]


def test_the_conversation_fixtures_render(tokenizer):
    template = ChatTemplate(tokenizer)
    for name in ("conversations.json", "conversations.jsonl"):
        for conversation in load_conversations(FIXTURES / name):
            ids, target_mask = template.render(conversation)
            replies = [turn.text + END_OF_TURN for turn in conversation
                       if turn.role == "assistant"]
            assert tokenizer.decode(ids[target_mask == 1]) == "".join(replies)
