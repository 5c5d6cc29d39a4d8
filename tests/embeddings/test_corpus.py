"""Word splitting and paragraph sentences for word2vec."""
import pytest

from llm.embeddings import corpus
from llm.embeddings.corpus import (
    ByteSpelling,
    TokenSentences,
    WordSentences,
    split_words,
    text_sentences,
    token_strings,
)


def test_split_words_lowercases_and_keeps_inner_apostrophes():
    text = "Don't SHOUT, o'clock! 'Tis the year's end -- twenty-one _italics_ café 42nd"
    assert split_words(text) == ["don't", "shout", "o'clock", "tis", "the", "year's", "end",
                                 "twenty", "one", "italics", "café", "42nd"]


def test_split_words_treats_curly_apostrophe_like_straight_and_drops_punctuation():
    assert split_words("It’s (here)... ‘quoted’") == ["it’s", "here", "quoted"]
    assert split_words(" \n\t.,;:!?-") == []


def test_paragraphs_are_sentences_and_blank_lines_with_spaces_or_crlf_separate_them():
    text = "One two\nthree.\r\n\r\nFour\n  \n\nfive six\n\n\n"
    assert list(text_sentences(text)) == [["one", "two", "three"], ["four"], ["five", "six"]]


def test_long_paragraphs_are_cut_at_the_sentence_limit(monkeypatch):
    monkeypatch.setattr(corpus, "MAX_SENTENCE_WORDS", 4)
    words = [f"w{i}" for i in range(10)]
    assert list(text_sentences(" ".join(words))) == [words[:4], words[4:8], words[8:]]


def test_word_sentences_reads_folders_twice_and_survives_latin1(tmp_path):
    (tmp_path / "b.txt").write_bytes("Caf\xe9 latin\n\nsecond para".encode("latin-1"))
    (tmp_path / "a.txt").write_text("First file.")
    sentences = WordSentences(tmp_path)
    expected = [["first", "file"], ["caf", "latin"], ["second", "para"]]
    assert list(sentences) == expected
    assert list(sentences) == expected   # re-iterable


def test_word_sentences_without_files_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no .txt files"):
        WordSentences(tmp_path)


def test_token_strings_spell_bytes_with_gpt2_alphabet_and_name_naive_whitespace(tmp_path):
    from llm.tokenizer import Tokenizer
    text = "the cat\tsat on\u00a0the mat\n\nthe cat"
    byte = Tokenizer.train(text, 270, mode="byte")
    strings = token_strings(byte)
    assert len(strings) == byte.vocab_size and len(set(strings)) == len(strings)
    assert strings[ord(" ")] == "Ġ" and strings[ord("\n")] == "Ċ" and strings[ord("a")] == "a"
    assert not any(c.isspace() for s in strings for c in s)
    naive = Tokenizer.train(text, 40, mode="naive", normalize=False, min_frequency=1)
    named = token_strings(naive)
    assert {"<space>", "<tab>", "<newline>", "<U+00A0>"} <= set(named)
    assert not any(c.isspace() for s in named for c in s)


def test_token_sentences_are_paragraphs_of_token_strings(tmp_path):
    from llm.tokenizer import Tokenizer
    (tmp_path / "a.txt").write_text("the cat sat\n\nthe cat")
    tokenizer = Tokenizer.train("the cat sat the cat", 260, mode="byte")
    strings = token_strings(tokenizer)
    sentences = list(TokenSentences(tmp_path, tokenizer))
    assert sentences == [[strings[i] for i in tokenizer.encode("the cat sat")],
                         [strings[i] for i in tokenizer.encode("the cat")]]


def test_byte_spelling_round_trips_token_text_and_tells_token_vocabularies_from_words():
    spelling = ByteSpelling()
    for text in [" the", "\n\n", "é", " naïve", "\t{", "€"]:
        assert spelling.text(spelling.word(text)) == text
    assert spelling.word(" the") == "Ġthe" and spelling.text("Ċ") == "\n"
    assert spelling.text("Ã") == "\\xc3"          # half a UTF-8 character, shown escaped
    assert spelling.spells(["Ġthe", "the", "Ċ", ","])
    assert not spelling.spells(["the", "red", "don't"])          # words: no spaced tokens
    assert not spelling.spells(["Ġthe", "snow man"])              # a character outside the alphabet
