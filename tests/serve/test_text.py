"""llm/serve/text.py: tokens become text as characters complete, and the text ends before the
first stop string, held back while the next tokens may complete one."""
from llm.serve.text import TextStream
from llm.tokenizer import Tokenizer

TOKENIZER = Tokenizer.train("naïve café ✓ the end. " * 20, 260)


def pieces(text: str, stop: list[str]) -> tuple[list[str], bool]:
    """What TextStream sends for text's bytes pushed one byte token at a time (byte tokens
    0..255 are single bytes), and whether it stopped."""
    stream = TextStream(TOKENIZER, stop)
    sent = [stream.push(byte) for byte in text.encode()]
    sent.append(stream.flush())
    return [piece for piece in sent if piece], stream.stopped


def test_cut_characters_wait_for_their_rest():
    sent, stopped = pieces("café ✓", [])
    assert "".join(sent) == "café ✓" and not stopped
    assert "é" in sent and "✓" in sent         # sent whole, never as U+FFFD


def test_the_text_ends_before_the_first_stop_string():
    sent, stopped = pieces("naïve café. the end.", ["the", "é."])
    assert "".join(sent) == "naïve caf" and stopped
    sent, _ = pieces("one two", ["two three"])      # a prefix of a stop at the end is text
    assert "".join(sent) == "one two"
    assert pieces("a ✓ b", ["✓"]) == (["a", " "], True)
