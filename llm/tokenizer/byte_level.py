"""GPT-2's byte-level alphabet: how the files of GPT-2, Hugging Face and transformers write bytes.

A byte-level BPE token is any bytes, but vocab.json, merges.txt and HF's tokenizer.json hold
strings, so GPT-2 shows each byte as one printable character (`byte_to_unicode`): printable
Latin-1 bytes as themselves, the others as U+0100 onwards (the space 0x20 as "Ġ", the newline
as "Ċ"). A token's shown form is its bytes' characters back to back, and holds no space, so
merges.txt can join two of them with one.
"""


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (printable Latin-1 bytes map to
    themselves, the rest to U+0100 onwards), used by HF's ByteLevel model."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping = {byte: chr(byte) for byte in printable}
    others = (byte for byte in range(256) if byte not in mapping)
    mapping.update({byte: chr(256 + i) for i, byte in enumerate(others)})
    return mapping


# str.translate tables between a token's Latin-1 decoding (one character a byte) and its shown form
TO_SHOWN = {byte: character for byte, character in byte_to_unicode().items()}
FROM_SHOWN = {ord(character): byte for byte, character in byte_to_unicode().items()}


def shown(token: bytes) -> str:
    """token in GPT-2's byte-level alphabet: one character a byte."""
    return token.decode("latin-1").translate(TO_SHOWN)


def shown_bytes(text: str) -> bytes | None:
    """The bytes whose shown form is text, or None when text holds a character outside the
    256 of the byte-level alphabet (it is then no byte-level token: an added token, say)."""
    if not all(ord(character) in FROM_SHOWN for character in text):
        return None
    return text.translate(FROM_SHOWN).encode("latin-1")
