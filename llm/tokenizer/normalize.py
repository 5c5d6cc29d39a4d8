"""Text normalization before pre-tokenization: optional ASCII folding and lowercasing.

A byte-level tokenizer never normalizes (it must round-trip any text); the naive tokenizer folds
and lowercases by default, which shrinks its alphabet. The Tokenizer stores the settings in
tokenizer.json through `to_dict` / `from_dict`.
"""
import unicodedata
from dataclasses import asdict, dataclass, fields

# Characters NFKD leaves without an ASCII form although one is plain to any reader: Latin letters
# that do not decompose, and typographic punctuation (without this, "don’t" would fold to "dont").
ASCII_FORMS = str.maketrans({
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ı": "i",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"',
    "″": '"', "«": '"', "»": '"', "‹": "'", "›": "'", "‐": "-", "‑": "-", "‒": "-", "–": "-",
    "—": "-", "―": "-", "−": "-", "⁄": "/",
})


@dataclass(frozen=True)
class Normalizer:
    """ascii_fold: Unicode compatibility decomposition (NFKD), then ASCII_FORMS, then drop every
    character still without an ASCII form: "café" -> "cafe", "ﬁ" -> "fi", "日本" -> "".
    lowercase: str.lower (after folding, when both are on)."""

    ascii_fold: bool = False
    lowercase: bool = False

    def __call__(self, text: str) -> str:
        if self.ascii_fold and not text.isascii():
            folded = unicodedata.normalize("NFKD", text).translate(ASCII_FORMS)
            text = folded.encode("ascii", errors="ignore").decode("ascii")
        if self.lowercase:
            text = text.lower()
        return text

    @property
    def is_identity(self) -> bool:
        """True when the normalizer returns every text unchanged."""
        return not (self.ascii_fold or self.lowercase)

    def to_dict(self) -> dict:
        """The settings for tokenizer.json: {"ascii_fold": bool, "lowercase": bool}."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> "Normalizer":
        """The inverse of to_dict; an unknown key or a non-boolean value is a ValueError."""
        known = {field.name for field in fields(cls)}
        if not isinstance(settings, dict):
            raise ValueError(f"normalizer: expected a dict of settings, got {type(settings).__name__}")
        for key, value in settings.items():
            if key not in known:
                raise ValueError(f"normalizer: unknown setting {key!r}; known: {sorted(known)}")
            if not isinstance(value, bool):
                raise ValueError(f"normalizer: {key}={value!r} must be true or false")
        return cls(**settings)
