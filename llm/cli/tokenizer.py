"""`llm tokenizer ...`: train, encode, decode, inspect and export tokenizers.

    llm tokenizer train --input PATH... --vocab-size N [--mode byte|naive] --out FILE
    llm tokenizer encode --tokenizer FILE [TEXT | -]        ids, space-separated
    llm tokenizer decode --tokenizer FILE [IDS... | -]
    llm tokenizer info --tokenizer FILE [--file PATH]
    llm tokenizer export --tokenizer FILE --format hf|tiktoken --out FILE
"""
import argparse
import sys
import time
from pathlib import Path

from llm.cli.options import TOKENIZER_FILES, signature_defaults
from llm.tokenizer.export import FORMATS, export
from llm.tokenizer.tokenizer import METHODS, MODES, NAIVE_TOKEN_NAMES, Tokenizer
from llm.util.text import decode_text, read_bytes, read_text


def read_argument(values: list[str]) -> str:
    """The text of positional arguments, or standard input for none or "-" (read as a file is:
    invalid UTF-8 becomes U+FFFD, with a warning)."""
    if not values or values == ["-"]:
        return decode_text(sys.stdin.buffer.read(), "standard input")
    return " ".join(values)


def cmd_train(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    normalize = False if args.no_normalize else None
    tokenizer = Tokenizer.train(args.input, args.vocab_size, mode=args.mode,
                                min_frequency=args.min_frequency, normalize=normalize,
                                special_tokens=args.special_token)
    tokenizer.save(args.out)
    print(f"{args.out}: {tokenizer.mode} mode, {tokenizer.vocab_size} tokens "
          f"({len(tokenizer.merges)} merges) in {time.perf_counter() - start:.2f} s")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.from_pretrained(args.tokenizer)
    allowed = "all" if args.allow_special else ()
    ids = tokenizer.encode(read_argument(args.text), allowed_special=allowed, method=args.method)
    print(" ".join(map(str, ids)))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.from_pretrained(args.tokenizer)
    words = read_argument(args.ids).split()
    try:
        ids = [int(word) for word in words]
    except ValueError:
        bad = next(word for word in words if not word.lstrip("-").isdigit())
        raise ValueError(f"decode: {bad!r} is not a token id; pass integers separated by "
                         "spaces") from None
    sys.stdout.write(tokenizer.decode(ids))
    return 0


def token_text(tokenizer: Tokenizer, token_id: int) -> str:
    """How to show a token: its text, naive whitespace by name, undecodable bytes escaped."""
    text = tokenizer.vocab[token_id].decode("utf-8", errors="backslashreplace")
    return NAIVE_TOKEN_NAMES.get(text, text) if tokenizer.mode == "naive" else repr(text)[1:-1]


def cmd_info(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.from_pretrained(args.tokenizer)
    merges = tokenizer.merges
    print(f"mode            {tokenizer.mode}")
    print(f"vocab size      {tokenizer.vocab_size}")
    if tokenizer.alphabet is None:
        print("base            256 bytes")
    else:
        shown_alphabet = " ".join(token_text(tokenizer, i) for i in range(tokenizer.n_base))
        print(f"base            {tokenizer.n_base} characters: {shown_alphabet}")
    print(f"merges          {len(merges)}")
    print("special tokens  " + ", ".join(f"{t}={i}" for t, i in tokenizer.special_tokens.items()))
    normalizer = tokenizer.normalizer.to_dict() if tokenizer.normalizer else None
    print(f"normalizer      {normalizer}")
    longest = max(range(tokenizer.vocab_size - len(tokenizer.special_tokens)),
                  key=lambda i: len(tokenizer.vocab[i]))
    print(f"longest token   {token_text(tokenizer, longest)!r} "
          f"({len(tokenizer.vocab[longest])} bytes)")
    n_shown = 10
    shown = list(range(min(n_shown, len(merges))))
    shown += list(range(max(n_shown, len(merges) - 5), len(merges)))
    if shown:
        print("sample merges")
    for k in shown:
        left, right = merges[k].tolist()
        merged = token_text(tokenizer, tokenizer.n_base + k)
        print(f"  {tokenizer.n_base + k:>7}  {token_text(tokenizer, left)!r} + "
              f"{token_text(tokenizer, right)!r} -> {merged!r}")
    if args.file:
        start = time.perf_counter()
        if tokenizer.mode == "byte":
            data = read_bytes(args.file)
            n_tokens = len(tokenizer.encode_bytes(data))
            n_bytes = len(data)
        else:
            text = read_text(args.file)
            n_tokens = len(tokenizer.encode(text))
            n_bytes = len(text.encode("utf-8"))
        elapsed = time.perf_counter() - start
        print(f"file            {args.file}: {n_bytes} bytes, {n_tokens} tokens, "
              f"{n_bytes / max(n_tokens, 1):.3f} bytes per token "
              f"(encoded at {n_bytes / 1e6 / max(elapsed, 1e-9):.1f} MB/s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    export(Tokenizer.from_pretrained(args.tokenizer), args.format, args.out)
    print(f"{args.out}: {args.format} export of {args.tokenizer}")
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("tokenizer", help="train and use BPE tokenizers")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train a tokenizer on text files")
    train.add_argument("--input", type=Path, nargs="+", required=True, metavar="PATH",
                       help="text files, or directories of .txt files")
    train.add_argument("--vocab-size", type=int, required=True, metavar="N",
                       help="tokens in the vocabulary: base symbols + merges + special tokens")
    defaults = signature_defaults(Tokenizer.train)
    train.add_argument("--mode", choices=MODES, default=defaults["mode"],
                       help="byte: GPT-2 byte-level BPE; naive: character alphabet, "
                            "punctuation and whitespace as tokens of their own "
                            f"(default: {defaults['mode']})")
    train.add_argument("--min-frequency", type=int, default=defaults["min_frequency"],
                       metavar="N",
                       help="never merge a pair seen fewer times (naive mode: also the least "
                            f"count of an alphabet character) (default: "
                            f"{defaults['min_frequency']})")
    train.add_argument("--special-token", action="append", default=None, metavar="TOKEN",
                       help="a special token (repeat for several; default: the mode's own)")
    train.add_argument("--no-normalize", action="store_true",
                       help="naive mode: no ASCII folding or lowercasing")
    train.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="where to write tokenizer.json")
    train.set_defaults(func=cmd_train)

    encode = verbs.add_parser("encode", help="print the token ids of a text")
    encode.add_argument("--tokenizer", type=Path, required=True, metavar="FILE",
                        help=TOKENIZER_FILES)
    encode.add_argument("--allow-special", action="store_true",
                        help="recognise special tokens in the text (default: plain text)")
    encode.add_argument("--method", choices=METHODS, default="bpe",
                        help="bpe: merge-rank BPE (default); greedy: longest match first")
    encode.add_argument("text", nargs="*", metavar="TEXT", help="the text; none or - reads stdin")
    encode.set_defaults(func=cmd_encode)

    decode = verbs.add_parser("decode", help="print the text of token ids")
    decode.add_argument("--tokenizer", type=Path, required=True, metavar="FILE",
                        help=TOKENIZER_FILES)
    decode.add_argument("ids", nargs="*", metavar="IDS",
                        help="ids separated by spaces; none or - reads stdin")
    decode.set_defaults(func=cmd_decode)

    info = verbs.add_parser("info", help="sizes, sample merges, bytes per token on a file")
    info.add_argument("--tokenizer", type=Path, required=True, metavar="FILE",
                        help=TOKENIZER_FILES)
    info.add_argument("--file", type=Path, metavar="PATH", help="measure bytes per token on it")
    info.set_defaults(func=cmd_info)

    export_verb = verbs.add_parser("export", help="write a byte-mode tokenizer for HF or tiktoken")
    export_verb.add_argument("--tokenizer", type=Path, required=True, metavar="FILE",
                        help=TOKENIZER_FILES)
    export_verb.add_argument("--format", choices=FORMATS, required=True)
    export_verb.add_argument("--out", type=Path, required=True, metavar="FILE")
    export_verb.set_defaults(func=cmd_export)
