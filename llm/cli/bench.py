"""`llm bench ...`: comparisons people can run without pytest.

    llm bench lookup [--sizes 1000,16000,64000] [--repeat 5] [--seed 0]

The token-lookup comparison: brute force, binary search and hash table against Python's dict
and bisect, by vocabulary size and by where the keys sit in the sorted vocabulary. One workload
serves both `llm bench lookup` (a printed table) and benchmarks/test_lookup_bench.py
(pytest-benchmark groups), so both time the same code.

The vocabulary is BPE-like and sorted, so a token's id is its rank in sorted order: keys "near
the start" are what a brute-force scan (in id order) finds first, keys "near the end" what it
finds last, and a miss costs it the whole vocabulary; binary search and hashing should not care.
"""
import argparse
import bisect
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llm.tokenizer.lookup import LOOKUPS

SIZES = (1_000, 16_000, 64_000)
# start/middle/end: 32 tokens around that point of the sorted order; random: anywhere in the
# vocabulary; miss: tokens of the same shape that are not in it.
POSITIONS = ("start", "middle", "end", "random", "miss")
WINDOW = 32
MODES = ("single", "batch")
BASELINES = ("dict", "bisect")
METHODS = BASELINES + tuple(LOOKUPS)   # dict, bisect, brute, binary, hash
KEYS_PER_CALL = 1024

# English letter frequencies (per mille), for token bodies.
LETTER_CODES = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
LETTER_P = np.array([127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20, 19,
                     15, 10, 8, 2, 2, 1, 1], dtype=np.float64)
LETTER_P /= LETTER_P.sum()
OTHER_CODES = np.frombuffer(b"0123456789.,;:!?'\"()-\n\t", dtype=np.uint8)


def size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def random_tokens(rng: np.random.Generator, n: int) -> list[bytes]:
    """n tokens shaped like byte-level BPE tokens: mostly words or word pieces of English-like
    letters, 55% with a leading space, 10% capitalised; 6% runs of 1-3 digits or punctuation;
    3% with a non-ASCII byte; 0.5% long (17-39 bytes). Mean length about 6 bytes."""
    other = rng.random(n) < 0.06
    lengths = np.where(other, rng.integers(1, 4, n), 1 + rng.poisson(4.5, n))
    long = rng.random(n) < 0.005
    lengths[long] = rng.integers(17, 40, int(long.sum()))
    total = int(lengths.sum())
    body = np.where(np.repeat(other, lengths), rng.choice(OTHER_CODES, total),
                    rng.choice(LETTER_CODES, total, p=LETTER_P)).astype(np.uint8)
    starts = np.cumsum(lengths) - lengths
    capital = ~other & (rng.random(n) < 0.1)
    body[starts[capital]] -= 32
    accented = rng.random(n) < 0.03
    body[starts[accented] + rng.integers(0, lengths[accented])] = \
        rng.integers(0x80, 0x100, int(accented.sum()))
    space = ~other & (rng.random(n) < 0.55)
    data = body.tobytes()
    return [b" " * leading_space + data[start:start + length] for leading_space, start, length
            in zip(space.tolist(), starts.tolist(), lengths.tolist())]


def bpe_like_vocabulary(size: int, seed: int = 0) -> list[bytes]:
    """size distinct tokens, sorted: the 256 single bytes, then random_tokens. Deterministic for
    a given seed."""
    rng = np.random.default_rng(seed)
    tokens = dict.fromkeys(bytes([b]) for b in range(min(size, 256)))
    while len(tokens) < size:
        for token in random_tokens(rng, size):
            tokens.setdefault(token)
            if len(tokens) == size:
                break
    return sorted(tokens)


@dataclass
class Workload:
    """One vocabulary size: the vocabulary, every lookup built over it, the keys by position and
    the ids they should give."""
    vocabulary: list[bytes]
    lookups: dict                         # method -> TokenLookup
    ids: dict[bytes, int]                 # the dict baseline
    keys: dict[str, list[bytes]]          # position -> KEYS_PER_CALL keys
    expected: dict[str, list[int]]        # position -> their ids (-1 for misses)

    def bisect_get(self, key: bytes) -> int:
        """The bisect baseline (the vocabulary is sorted, so the index is the id)."""
        i = bisect.bisect_left(self.vocabulary, key)
        return i if i < len(self.vocabulary) and self.vocabulary[i] == key else -1


def make_workload(size: int, seed: int = 0) -> Workload:
    vocabulary = bpe_like_vocabulary(size, seed)
    present = set(vocabulary)
    rng = np.random.default_rng([seed, size])
    misses = [token for token in random_tokens(rng, 4 * KEYS_PER_CALL) if token not in present]
    middle = size // 2 - WINDOW // 2
    pools = {"start": range(WINDOW), "middle": range(middle, middle + WINDOW),
             "end": range(size - WINDOW, size), "random": range(size)}
    keys = {position: [vocabulary[i] for i in rng.choice(pool, size=KEYS_PER_CALL)]
            for position, pool in pools.items()}
    keys["miss"] = misses[:KEYS_PER_CALL]
    # Copies: the dict must hash and compare the key, not find the very object it stores.
    keys = {position: [bytes(bytearray(key)) for key in position_keys]
            for position, position_keys in keys.items()}
    ids = {token: i for i, token in enumerate(vocabulary)}
    return Workload(
        vocabulary=vocabulary,
        lookups={method: cls(vocabulary) for method, cls in LOOKUPS.items()},
        ids=ids,
        keys=keys,
        expected={position: [ids.get(key, -1) for key in position_keys]
                  for position, position_keys in keys.items()},
    )


SCATTERED_SIZE = 100_000   # tokens in the table, and keys per call


@dataclass
class ScatteredWorkload:
    """A table too big for the L2 cache and a batch of keys spread through memory: every lookup
    misses the cache twice or more (the key object, the table slot, the stored key), unlike the
    KEYS_PER_CALL keys of Workload, which stay hot from one call to the next."""
    lookup: object                 # HashLookup over vocabulary
    ids: dict[bytes, int]          # the dict baseline
    keys: list[bytes]              # copies of random tokens, allocated in a different order
    expected: list[int]


def make_scattered_workload(size: int = SCATTERED_SIZE, n_keys: int = SCATTERED_SIZE,
                            seed: int = 0) -> ScatteredWorkload:
    vocabulary = bpe_like_vocabulary(size, seed)
    rng = np.random.default_rng([seed, size, n_keys])
    drawn = rng.integers(0, size, n_keys)
    # The copies are made in one random order and listed in another, so that neighbours in the
    # list are not neighbours in memory.
    made = [bytes(bytearray(vocabulary[i])) for i in drawn]
    keys = [made[i] for i in rng.permutation(n_keys)]
    ids = {token: i for i, token in enumerate(vocabulary)}
    return ScatteredWorkload(lookup=LOOKUPS["hash"](vocabulary), ids=ids, keys=keys,
                             expected=[ids[key] for key in keys])


def lookup_call(work: Workload, method: str, mode: str, position: str) -> Callable[[], object]:
    """A call that looks up the KEYS_PER_CALL keys of position and returns their ids.

    single: a Python loop calling get per key; batch: one get_many. dict and bisect have no batch
    form: both modes run their Python loop (`[ids.get(key, -1) for key in keys]`)."""
    keys = work.keys[position]
    if method == "dict":
        get = work.ids.get
        return lambda: [get(key, -1) for key in keys]
    if method == "bisect":
        get = work.bisect_get
        return lambda: [get(key) for key in keys]
    lookup = work.lookups[method]
    if mode == "batch":
        return lambda: lookup.get_many(keys)
    get = lookup.get
    return lambda: [get(key) for key in keys]


def seconds_per_call(call: Callable[[], object], repeat: int, min_seconds: float = 0.01) -> float:
    """Median over repeat runs of the CPU time per call; each run makes enough calls to last
    min_seconds. CPU time of this process, not wall time: on a shared machine it does not count
    the time other processes hold the core (every call timed here runs on one thread)."""
    start = time.process_time()
    call()
    calls = max(1, int(min_seconds / max(time.process_time() - start, 1e-6)))
    times = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(calls):
            call()
        times.append((time.process_time() - start) / calls)
    return statistics.median(times)


def compare(sizes=SIZES, repeat: int = 5, seed: int = 0,
            progress: Callable[[str], None] | None = None) -> dict:
    """ns per key for every (size, method, mode, position): {(size, method, mode, position): ns}.
    progress, if given, is called with a line of text before each size."""
    results = {}
    for size in sizes:
        if progress:
            progress(f"{size_label(size)} tokens ...")
        work = make_workload(size, seed)
        for method in METHODS:
            for mode in MODES:
                for position in POSITIONS:
                    call = lookup_call(work, method, mode, position)
                    results[size, method, mode, position] = \
                        seconds_per_call(call, repeat) / KEYS_PER_CALL * 1e9
    return results


def format_table(results: dict) -> str:
    """The results of compare as a text table: ns per key, single and batch side by side, and
    how much faster a batched hash lookup is than a Python loop over dict.get."""
    sizes = sorted({key[0] for key in results})
    # columns as wide as the widest figure: brute force on a large vocabulary passes 100,000 ns
    width = max(8, *(len(f"{ns:.1f}") + 1 for ns in results.values()))
    cells = "".join(f"{position:>{width}}" for position in POSITIONS)
    half = width * len(POSITIONS)
    lines = [f"{'':14}{'single: Python loop of get(key)':^{half}}  "
             f"{'batch: one get_many(keys)':^{half}}",
             f"{'size':6}{'method':8}{cells}  {cells}"]
    for size in sizes:
        for row, method in enumerate(METHODS):
            values = [f"{results[size, method, mode, position]:{width}.1f}"
                      for mode in MODES for position in POSITIONS]
            label = size_label(size) if row == 0 else ""
            single, batch = values[:len(POSITIONS)], values[len(POSITIONS):]
            lines.append(f"{label:6}{method:8}{''.join(single)}  {''.join(batch)}")
    lines.append("")
    for size in sizes:
        ratios = [results[size, "dict", "batch", position]
                  / results[size, "hash", "batch", position] for position in POSITIONS]
        lines.append(f"{size_label(size)}: hash get_many is {min(ratios):.1f}-{max(ratios):.1f}x "
                     f"faster per key than a Python loop over dict.get")
    return "\n".join(lines)


# ---- `llm bench lookup`


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes like 1000,16000,64000")
    if any(size < WINDOW for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be at least "
                                         f"{WINDOW} tokens")
    return sizes


def cmd_lookup(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise ValueError(f"--repeat {args.repeat}: must be at least 1")
    results = compare(args.sizes, args.repeat, args.seed,
                                   progress=lambda line: print(line, file=sys.stderr))
    print(f"Token lookup, ns per key (median of {args.repeat} runs, "
          f"{KEYS_PER_CALL} keys per call, seed {args.seed})\n")
    print(format_table(results))
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
    lookup.add_argument("--sizes", type=parse_sizes, default=SIZES,
                        help="vocabulary sizes, comma-separated (default: 1000,16000,64000)")
    lookup.add_argument("--repeat", type=int, default=5,
                        help="timed runs per case; the median is shown (default: 5)")
    lookup.add_argument("--seed", type=int, default=0,
                        help="seed of the vocabulary and keys (default: 0)")
    lookup.set_defaults(func=cmd_lookup)
