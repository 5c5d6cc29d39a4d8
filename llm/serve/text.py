"""A request's generated tokens as text: UTF-8 characters cut between byte-level tokens wait
for their rest, and the text ends before the first stop string (OpenAI's `stop`)."""
import codecs

from llm.tokenizer import Tokenizer


class TextStream:
    """push(token) returns the text that can be sent now; stopped turns True once a stop
    string appears (the text ends before it; later tokens are ignored). Text that could be the
    start of a stop string is held until the next tokens tell (at most the longest stop string
    less one character), and flush() returns what is held at the end."""

    def __init__(self, tokenizer: Tokenizer, stop: list[str] = ()):
        self.tokenizer = tokenizer
        self.stop = [text for text in stop if text]
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.held = ""
        self.stopped = False

    def push(self, token: int) -> str:
        """The text token completes that can be sent (maybe "")."""
        if self.stopped:
            return ""
        self.held += self.decoder.decode(self.tokenizer.decode_bytes([token]))
        found = [index for index in (self.held.find(text) for text in self.stop) if index >= 0]
        if found:
            self.stopped = True
            text, self.held = self.held[:min(found)], ""
            return text
        keep = max((size for text in self.stop for size in range(1, len(text))
                    if self.held.endswith(text[:size])), default=0)
        text, self.held = self.held[:len(self.held) - keep], self.held[len(self.held) - keep:]
        return text

    def flush(self) -> str:
        """The text held back, at the end of the generation."""
        if self.stopped:
            return ""
        text, self.held = self.held + self.decoder.decode(b"", final=True), ""
        return text
