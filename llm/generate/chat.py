"""Chatting with a model trained on conversations (`llm chat`): a session keeps the history,
trimmed from the oldest exchanges to fit the context window, and streams each reply as text.
"""
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from llm.data.chat_template import ChatTemplate
from llm.data.conversations import ASSISTANT, SYSTEM, USER, Turn
from llm.generate import decode_stream
from llm.model import GPT
from llm.model.generation import generate_stream
from llm.model.sampling import SamplingConfig

log = logging.getLogger(__name__)

DEFAULT_SAMPLING = SamplingConfig(temperature=0.8, top_p=0.95)
DEFAULT_MAX_NEW_TOKENS = 256
HELP = "Type a message and press Enter. /reset forgets the conversation, /exit quits."


class ChatSession:
    """A conversation with model: the system prompt, the exchanges so far, and replies.

    Each reply is sampled with sampling's temperature, top_k and top_p, from a seed drawn from
    a Generator seeded by sampling.seed (so a session's replies differ from one another but a
    session repeats), and ends at <|end|> or after max_new_tokens tokens. The
    prompt (system turn, history, new message, <|assistant|>) keeps at most block_size -
    min(max_new_tokens, block_size // 2) tokens, so the reply has room: the oldest exchanges go
    first; the system turn stays.
    """

    def __init__(self, model: GPT, tokenizer, system: str | None = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 sampling: SamplingConfig = DEFAULT_SAMPLING):
        self.model = model
        self.template = ChatTemplate(tokenizer)
        self.tokenizer = tokenizer
        self.system = [Turn(SYSTEM, system)] if system else []
        self.exchanges: list[tuple[Turn, Turn]] = []
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens!r}: a reply needs at least 1")
        self.max_new_tokens = max_new_tokens
        if not isinstance(sampling, SamplingConfig):
            raise ValueError(f"sampling must be a SamplingConfig, got {type(sampling).__name__}")
        self.sampling = sampling
        self.seeds = np.random.default_rng(sampling.seed)
        block_size = model.config.block_size
        self.prompt_budget = block_size - min(max_new_tokens, block_size // 2)

    def reset(self) -> None:
        """Forget the exchanges (the system prompt stays)."""
        self.exchanges.clear()

    def prompt_ids(self, message: str) -> list[int]:
        """The prompt for a reply to message, dropping the oldest exchanges to fit."""
        user = Turn(USER, message)
        for first in range(len(self.exchanges) + 1):
            history = [turn for exchange in self.exchanges[first:] for turn in exchange]
            ids = self.template.prompt_ids(self.system + history + [user])
            if len(ids) <= self.prompt_budget:
                return ids
        log.warning("the message and system prompt take %d tokens, more than the %d the "
                    "context leaves for a prompt: the model sees only their end", len(ids),
                    self.prompt_budget)
        return ids

    def reply(self, message: str) -> Iterator[str]:
        """The reply to message, in pieces of text as they are generated. The exchange joins
        the history when the reply is complete (an abandoned reply leaves no trace)."""
        ids = self.prompt_ids(message)
        sampling = replace(self.sampling, seed=int(self.seeds.integers(2 ** 63)))
        tokens = generate_stream(self.model, ids, self.max_new_tokens, sampling,
                                 stop_tokens=[self.template.end_id])
        pieces = []
        for piece in decode_stream(tokens, self.tokenizer, stop_tokens=[self.template.end_id]):
            pieces.append(piece)
            yield piece
        self.exchanges.append((Turn(USER, message), Turn(ASSISTANT, "".join(pieces))))


def run_chat(session: ChatSession, read_line: Callable[[str], str],
             write: Callable[[str], object]) -> None:
    """The REPL: read_line(prompt) returns a line (raises EOFError at the end of input, as
    input() does); write(text) shows text (and flushes). /reset and /exit are commands."""
    write(HELP + "\n")
    while True:
        try:
            line = read_line("you> ")
        except EOFError:
            write("\n")
            return
        message = line.strip()
        if message == "/exit":
            return
        if message == "/reset":
            session.reset()
            write("(conversation forgotten)\n")
            continue
        if not message:
            continue
        write("model> ")
        try:
            for piece in session.reply(message):
                write(piece)
        except KeyboardInterrupt:
            write(" [interrupted]")
        write("\n")
