"""llm/tokenizer/normalize.py: ASCII folding, lowercasing, the tokenizer.json settings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm.tokenizer.normalize import Normalizer

ALL_SETTINGS = [Normalizer(fold, lower) for fold in (False, True) for lower in (False, True)]


@pytest.mark.parametrize("text, folded", [
    ("café", "cafe"),
    ("cafe\u0301", "cafe"),
    ("ﬁne", "fine"),                  # compatibility ligature
    ("日本", ""),
    ("Ｈｅｌｌｏ²", "Hello2"),          # full-width letters, superscript
    ("½", "1/2"),
    ("don’t “quote” – dash", "don't \"quote\" - dash"),
    ("Straße Ørsted Æsir łódź", "Strasse Orsted AEsir lodz"),
    ("naïve\tText\n", "naive\tText\n"),
])
def test_ascii_fold(text, folded):
    assert Normalizer(ascii_fold=True)(text) == folded


def test_lowercase_folds_case_only():
    assert Normalizer(lowercase=True)("Ünïcode ÉTÉ") == "ünïcode été"
    assert Normalizer(ascii_fold=True, lowercase=True)("Ünïcode ÉTÉ") == "unicode ete"


@given(st.text())
def test_fold_gives_ascii_and_keeps_ascii(text):
    folded = Normalizer(ascii_fold=True)(text)
    assert folded.isascii()
    ascii_part = "".join(c for c in text if c.isascii())
    assert Normalizer(ascii_fold=True)(ascii_part) == ascii_part


@pytest.mark.parametrize("normalizer", ALL_SETTINGS)
@given(st.text())
def test_normalizing_twice_changes_nothing_more(normalizer, text):
    once = normalizer(text)
    assert normalizer(once) == once


def test_identity():
    assert Normalizer().is_identity
    assert Normalizer()("Ünï ﬁ") == "Ünï ﬁ"
    assert not Normalizer(ascii_fold=True).is_identity
    assert not Normalizer(lowercase=True).is_identity


@pytest.mark.parametrize("normalizer", ALL_SETTINGS)
def test_dict_round_trip(normalizer):
    settings = normalizer.to_dict()
    assert settings == {"ascii_fold": normalizer.ascii_fold, "lowercase": normalizer.lowercase}
    assert Normalizer.from_dict(settings) == normalizer


def test_from_dict_refuses_bad_settings():
    assert Normalizer.from_dict({}) == Normalizer()
    with pytest.raises(ValueError, match="unknown setting 'nfkc'"):
        Normalizer.from_dict({"nfkc": True})
    with pytest.raises(ValueError, match="lowercase='yes' must be true or false"):
        Normalizer.from_dict({"lowercase": "yes"})
    with pytest.raises(ValueError, match="expected a dict"):
        Normalizer.from_dict(["lowercase"])
