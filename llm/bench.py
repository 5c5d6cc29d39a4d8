"""`llm bench ...`: comparisons people can run without pytest.

    llm bench lookup [--sizes 1000,16000,64000] [--repeat 5] [--seed 0]
"""
import argparse
import sys

from llm.tokenizer import lookup_bench


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes like 1000,16000,64000")
    if any(size < lookup_bench.WINDOW for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be at least "
                                         f"{lookup_bench.WINDOW} tokens")
    return sizes


def cmd_lookup(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise ValueError(f"--repeat {args.repeat}: must be at least 1")
    results = lookup_bench.compare(args.sizes, args.repeat, args.seed,
                                   progress=lambda line: print(line, file=sys.stderr))
    print(f"Token lookup, ns per key (median of {args.repeat} runs, "
          f"{lookup_bench.KEYS_PER_CALL} keys per call, seed {args.seed})\n")
    print(lookup_bench.format_table(results))
    return 0


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="run comparisons and print their tables")
    verbs = bench.add_subparsers(dest="verb", metavar="VERB", required=True)
    lookup = verbs.add_parser(
        "lookup", help="token lookup: brute force, binary search, hash table vs dict and bisect",
        description="Time finding token ids in BPE-like vocabularies: brute force, binary "
                    "search and hash table (single lookups and one batched call) against "
                    "Python's dict and bisect, for keys near the start, middle and end of the "
                    "sorted vocabulary, anywhere in it, and absent from it.")
    lookup.add_argument("--sizes", type=parse_sizes, default=lookup_bench.SIZES,
                        help="vocabulary sizes, comma-separated (default: 1000,16000,64000)")
    lookup.add_argument("--repeat", type=int, default=5,
                        help="timed runs per case; the median is shown (default: 5)")
    lookup.add_argument("--seed", type=int, default=0,
                        help="seed of the vocabulary and keys (default: 0)")
    lookup.set_defaults(func=cmd_lookup)
