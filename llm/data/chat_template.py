"""The chat template: conversations as token ids, role markers being special tokens.

    <|system|>You are terse.<|end|><|user|>Hi!<|end|><|assistant|>Hello.<|end|>

Each turn is its role's marker, its text encoded as ordinary text (a marker typed inside a
message stays plain text, never a special token), and <|end|>. A prompt for a reply ends with
<|assistant|>, and the reply ends when the model emits <|end|>.

For training, `render` marks the tokens the model learns to predict: the assistant's text and
its <|end|> (target_mask 1). Role markers and the system and user turns are context only: the
template inserts the markers, and the user's words are not the model's to write.
"""
import numpy as np

from llm.data.conversations import ASSISTANT, SYSTEM, USER, Conversation, Turn

ROLE_MARKERS = {SYSTEM: "<|system|>", USER: "<|user|>", ASSISTANT: "<|assistant|>"}
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (*ROLE_MARKERS.values(), END_OF_TURN)


def add_chat_tokens(tokenizer) -> None:
    """Register the chat tokens the tokenizer lacks as special tokens (they take the next ids,
    so do this before building a model on the tokenizer: its vocab_size grows)."""
    missing = [token for token in CHAT_TOKENS if token not in tokenizer.special_tokens]
    if missing:
        tokenizer.register_special_tokens(missing)


class ChatTemplate:
    """Renders turns with a tokenizer that has the chat tokens (see add_chat_tokens)."""

    def __init__(self, tokenizer):
        missing = [token for token in CHAT_TOKENS if token not in tokenizer.special_tokens]
        if missing:
            raise ValueError(f"the tokenizer lacks the chat tokens {missing}: this model was not "
                             "trained for chat; train one on conversations: `llm train --data "
                             "chats.jsonl ...`")
        self.tokenizer = tokenizer
        self.marker_ids = {role: tokenizer.special_tokens[marker]
                           for role, marker in ROLE_MARKERS.items()}
        self.end_id = tokenizer.special_tokens[END_OF_TURN]

    def turn_ids(self, turn: Turn) -> list[int]:
        """One turn: its role marker, its text, <|end|>."""
        return [self.marker_ids[turn.role], *self.tokenizer.encode(turn.text), self.end_id]

    def render(self, conversation: Conversation) -> tuple[np.ndarray, np.ndarray]:
        """(ids, target_mask): (N,) int32 token ids of the whole conversation and (N,) uint8,
        1 on the tokens a training target counts at (each assistant turn's text and <|end|>)."""
        ids, target_mask = [], []
        for turn in conversation:
            tokens = self.turn_ids(turn)
            ids += tokens
            learned = int(turn.role == ASSISTANT)
            target_mask += [0] + [learned] * (len(tokens) - 1)
        return np.array(ids, np.int32), np.array(target_mask, np.uint8)

    def prompt_ids(self, turns) -> list[int]:
        """The turns followed by <|assistant|>: what the model continues with a reply."""
        ids = []
        for turn in turns:
            ids += self.turn_ids(turn)
        return ids + [self.marker_ids[ASSISTANT]]
