"""Corpora as word2vec sentences: lists of lower-cased words, or of subword tokens.

Words: the text is lower-cased and a word is a run of letters and digits that may hold single
apostrophes inside it — "don't", "o'clock" and "year's" are one word each, "'tis" is "tis".
Everything else separates words, including hyphens and underscores (Gutenberg's _italics_).

Sentences: a paragraph (text up to a blank line) is one sentence; the context window never
crosses a sentence boundary. A paragraph longer than MAX_SENTENCE_WORDS words is cut into pieces
of at most that many, the limit gensim applies, so both see the same sentences.

Tokens: each paragraph is encoded by a Tokenizer and its ids become token strings (token_strings)
that the word2vec formats can store: byte mode spells a token's bytes with GPT-2's printable
byte alphabet ("Ġthe" is " the", as HF vocabulary files show it); naive mode uses the token's
text, with whitespace tokens named (<space>, <newline>, <tab>) and any other whitespace character
written <U+XXXX>. Every token is kept — subsampling thins out the frequent ones — except the
blank lines between paragraphs, which are sentence boundaries. People read and type such tokens
as text: ByteSpelling turns a word of a byte-mode vocabulary into its text and back.
"""
import re
from collections.abc import Iterable, Iterator

from llm.tokenizer import Tokenizer
from llm.tokenizer.byte_level import byte_to_unicode
from llm.tokenizer.tokenizer import NAIVE_TOKEN_NAMES
from llm.util.text import PathLike, iter_files, read_text

MAX_SENTENCE_WORDS = 10_000

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def split_words(text: str) -> list[str]:
    """The lower-cased words of text (see the module docstring for what a word is)."""
    return WORD.findall(text.lower())


def paragraphs(text: str) -> Iterator[str]:
    """The paragraphs of text that hold something besides whitespace."""
    return (paragraph for paragraph in PARAGRAPH_BREAK.split(text) if paragraph.strip())


def cut(sentence: list[str]) -> Iterator[list[str]]:
    """sentence in pieces of at most MAX_SENTENCE_WORDS."""
    for start in range(0, len(sentence), MAX_SENTENCE_WORDS):
        yield sentence[start:start + MAX_SENTENCE_WORDS]


def text_sentences(text: str) -> Iterator[list[str]]:
    """The paragraphs of text as lists of words, empty ones left out."""
    for paragraph in paragraphs(text):
        yield from cut(split_words(paragraph))


def token_strings(tokenizer: Tokenizer) -> list[str]:
    """Every token of tokenizer as a word2vec word, in id order (see the module docstring)."""
    if tokenizer.mode == "byte":
        alphabet = byte_to_unicode()
        return ["".join(alphabet[byte] for byte in token) for token in tokenizer.vocab]
    strings = []
    for token in tokenizer.vocab:
        text = token.decode("utf-8")
        text = NAIVE_TOKEN_NAMES.get(text, text)
        strings.append("".join(f"<U+{ord(c):04X}>" if c.isspace() else c for c in text))
    return strings


class ByteSpelling:
    """Byte-mode token words (GPT-2's byte alphabet, "Ġthe") to text (" the") and back."""

    def __init__(self):
        self.to_char = byte_to_unicode()
        self.to_byte = {char: byte for byte, char in self.to_char.items()}

    def spells(self, words: Iterable[str]) -> bool:
        """Whether words are a byte-mode token vocabulary: every character in the byte alphabet,
        and tokens that start with a space ("Ġ", U+0120, which lower-cased words never hold)."""
        words = list(words)
        return any(word.startswith("\u0120") for word in words) and all(
            char in self.to_byte for word in words for char in word)

    def text(self, word: str) -> str:
        """The token's text (bytes that are not UTF-8 on their own as \\x escapes)."""
        return bytes(self.to_byte[char] for char in word).decode("utf-8", "backslashreplace")

    def word(self, text: str) -> str:
        """The vocabulary word of a token's text."""
        return "".join(self.to_char[byte] for byte in text.encode("utf-8"))


class WordSentences:
    """The sentences of text files as words; each iteration reads the files again.

    paths: files or directories (their *.txt files, recursively, in sorted order). Files that are
    not valid UTF-8 are read with the bad bytes replaced, and a warning (llm.util.text).
    """

    def __init__(self, paths: PathLike | Iterable[PathLike]):
        self.files = list(iter_files(paths))
        if not self.files:
            raise ValueError(f"no .txt files found in {paths}")

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.files:
            yield from text_sentences(read_text(path))


class TokenSentences(WordSentences):
    """The sentences of text files as the token strings of tokenizer."""

    def __init__(self, paths: PathLike | Iterable[PathLike], tokenizer: Tokenizer):
        super().__init__(paths)
        self.tokenizer = tokenizer
        self.strings = token_strings(tokenizer)

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.files:
            encoded = self.tokenizer.encode_batch(list(paragraphs(read_text(path))))
            for ids in encoded:
                yield from cut([self.strings[i] for i in ids])
