"""llm/generate: text generation from a saved model (the prompt's continuation as text, the
empty prompt's start), and decoding a token stream that cuts characters."""
import pytest

from llm.generate import decode_stream, sample, stream_text
from llm.model import GPT, GPTConfig, SamplingConfig, load
from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer


def test_decode_stream_holds_back_a_cut_character():
    tokenizer = Tokenizer.train("naïve café ünïcode ✓ " * 20, 300)
    text = "café ✓ ünï"
    ids = tokenizer.encode_bytes(text.encode())     # byte tokens 0..255 are single bytes
    byte_ids = list(text.encode())
    for tokens in (ids, byte_ids):
        pieces = list(decode_stream(tokens, tokenizer))
        assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)
    assert list(decode_stream(byte_ids[:4], tokenizer)) == ["c", "a", "f", "\ufffd"]  # cut é
    stop = ids[2]
    assert "".join(decode_stream(ids, tokenizer, [stop])) == tokenizer.decode(ids[:2])


def test_text_sampling_from_a_saved_model(tmp_path):
    tokenizer = char_tokenizer(["abcdefgh\n"])
    small = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=6, n_layer=1, n_head=2,
                          d_model=16, seed=0))
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        load(tmp_path / "missing")
    small.save(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        load(tmp_path / "model")
    small.save(tmp_path / "model", tokenizer)
    loaded, loaded_tokenizer = load(tmp_path / "model")
    text = sample(loaded, loaded_tokenizer, "ab", 8, SamplingConfig(seed=1))
    assert text == sample(small, tokenizer, "ab", 8, SamplingConfig(seed=1))
    greedy = SamplingConfig(temperature=0)
    expected = tokenizer.decode(small.generate(tokenizer.encode("\n"), 5, greedy))
    assert sample(small, tokenizer, "", 5, greedy) == expected   # "" starts at "\n"
    assert "".join(stream_text(small, tokenizer, "ab", 8, SamplingConfig(seed=1))) == text
