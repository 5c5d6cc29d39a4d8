"""llm/generate/chat.py: the session's history trimming, replies ending at <|end|>, the REPL
commands."""
import numpy as np
import pytest

from llm.data.chat_template import add_chat_tokens
from llm.generate.chat import HELP, ChatSession, run_chat
from llm.model import GPT, GPTConfig, SamplingConfig
from llm.train.char_tokenizer import char_tokenizer

GREEDY = SamplingConfig(temperature=0)


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = char_tokenizer(["abcdefghijklmnopqrstuvwxyz 0123456789?!."])
    add_chat_tokens(tokenizer)
    return tokenizer


def always(tokenizer, token: str, block_size: int = 64) -> GPT:
    """A model whose every next token is `token` (greedy): LN_f outputs ones, and only token's
    lm-head row is nonzero."""
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=1,
                          n_head=2, d_model=16, tie_embeddings=False))
    model.params["ln_f.weight"][:] = 0.0
    model.params["ln_f.bias"][:] = 1.0
    model.params["lm_head.weight"][:] = 0.0
    token_id = tokenizer.special_tokens.get(token) or tokenizer.encode(token)[0]
    model.params["lm_head.weight"][token_id] = 1.0
    return model


def test_a_reply_streams_until_end_or_max_new_tokens_and_joins_the_history(tokenizer):
    session = ChatSession(always(tokenizer, "z"), tokenizer, max_new_tokens=5, sampling=GREEDY)
    assert list(session.reply("hi")) == ["z"] * 5
    assert [(u.text, a.text) for u, a in session.exchanges] == [("hi", "zzzzz")]
    silent = ChatSession(always(tokenizer, "<|end|>"), tokenizer, sampling=GREEDY)
    assert list(silent.reply("hi")) == []
    assert silent.exchanges[0][1].text == ""


def test_history_is_trimmed_from_the_oldest_exchange_and_keeps_the_system_turn(tokenizer):
    session = ChatSession(always(tokenizer, "a", block_size=64), tokenizer, system="be kind",
                          max_new_tokens=8, sampling=GREEDY)
    assert session.prompt_budget == 64 - 8
    for number in range(12):
        list(session.reply(f"question {number}?"))
    ids = session.prompt_ids("last?")
    assert len(ids) <= session.prompt_budget
    exchange = "<|user|>question {}?<|end|><|assistant|>aaaaaaaa<|end|>"   # 24 tokens
    # 9 (system) + 24 + 8 (the new message) fit in 56; one more exchange would not
    assert tokenizer.decode(ids) == ("<|system|>be kind<|end|>" + exchange.format(11)
                                     + "<|user|>last?<|end|><|assistant|>")
    session.reset()
    assert tokenizer.decode(session.prompt_ids("x")) == \
        "<|system|>be kind<|end|><|user|>x<|end|><|assistant|>"


def test_a_message_longer_than_the_window_still_gets_a_reply(tokenizer, caplog):
    session = ChatSession(always(tokenizer, "b", block_size=16), tokenizer, max_new_tokens=4,
                          sampling=GREEDY)
    assert "".join(session.reply("abcdefghijklmnopqrstuvwxyz")) == "bbbb"
    assert "the model sees only their end" in caplog.text


def test_the_repl_answers_resets_and_exits(tokenizer):
    session = ChatSession(always(tokenizer, "y"), tokenizer, max_new_tokens=3, sampling=GREEDY)
    lines = iter(["hello", "  ", "/reset", "again", "/exit", "never read"])
    prompts, shown = [], []

    def read_line(prompt):
        prompts.append(prompt)
        return next(lines)

    run_chat(session, read_line, shown.append)
    text = "".join(shown)
    assert text == f"{HELP}\nmodel> yyy\n(conversation forgotten)\nmodel> yyy\n"
    assert prompts == ["you> "] * 5
    assert [u.text for u, _ in session.exchanges] == ["again"]


def test_the_repl_ends_at_end_of_input(tokenizer):
    session = ChatSession(always(tokenizer, "y"), tokenizer, max_new_tokens=2, sampling=GREEDY)
    lines = iter(["one"])

    def read_line(prompt):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    shown = []
    run_chat(session, read_line, shown.append)
    assert "".join(shown).endswith("model> yy\n\n") and len(session.exchanges) == 1


def test_settings_are_checked_up_front(tokenizer):
    model = always(tokenizer, "a")
    for kwargs, message in (({"max_new_tokens": 0}, "max_new_tokens"),
                            ({"sampling": {"temperature": 0}}, "SamplingConfig")):
        with pytest.raises(ValueError, match=message):
            ChatSession(model, tokenizer, **kwargs)
    plain = char_tokenizer(["abc"])
    with pytest.raises(ValueError, match="not trained for chat"):
        ChatSession(GPT(GPTConfig(vocab_size=plain.vocab_size, block_size=8, n_layer=1,
                                  n_head=1, d_model=8)), plain)


def test_replies_are_seeded(tokenizer):
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2,
                          d_model=16, seed=1))
    model.params.flat += np.random.default_rng(0).normal(0, 0.5, model.params.size).astype(
        np.float32)

    def replies(seed):
        session = ChatSession(model, tokenizer, max_new_tokens=6,
                              sampling=SamplingConfig(seed=seed))
        return ["".join(session.reply(message)) for message in ("hi", "so?")]

    assert replies(3) == replies(3)
    assert any(replies(seed) != replies(3) for seed in (4, 5, 6))
