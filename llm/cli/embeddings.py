"""`llm word2vec ...`: train word vectors, query and evaluate them.

    llm word2vec train --input PATH... [--tokenizer FILE] [--dim 100] [--window 5]
                       [--negative 5] [--epochs 5] [--cbow] ... --out vectors.bin
    llm word2vec similar --vectors FILE WORD... [--topn 10]
    llm word2vec analogy --vectors FILE A B C [--topn 5]          words nearest A - B + C
    llm word2vec evaluate --vectors FILE [--analogies FILE] [--pairs FILE]
"""
import argparse
from pathlib import Path

from llm.cli.options import TOKENIZER_FILES, signature_defaults
from llm.embeddings.corpus import ByteSpelling, TokenSentences, WordSentences
from llm.embeddings.word2vec import Word2Vec


def cmd_train(args: argparse.Namespace) -> int:
    if args.tokenizer is not None:
        from llm.tokenizer import Tokenizer
        sentences = TokenSentences(args.input, Tokenizer.from_pretrained(args.tokenizer))
    else:
        sentences = WordSentences(args.input)
    model = Word2Vec.train(sentences, dim=args.dim, window=args.window, negative=args.negative,
                           sample=args.sample, min_count=args.min_count,
                           skip_gram=not args.cbow, epochs=args.epochs, alpha=args.alpha,
                           min_alpha=args.min_alpha, seed=args.seed, threads=args.threads,
                           progress=True)
    model.save(args.out)
    stats = model.stats
    print(f"{args.out}: {len(model)} words x {model.dim} dimensions; {stats.words_trained:,} "
          f"effective words in {stats.seconds:.2f} s ({stats.words_per_second:,.0f} words/s, "
          f"{stats.threads} threads)")
    return 0


class Vocabulary:
    """How the words of a vectors file are typed and shown: as they are, or — for vectors of a
    byte-mode tokenizer's tokens — as the tokens' text, quoted (" the", not Ġthe)."""

    def __init__(self, model: Word2Vec):
        self.model, self.spelling = model, ByteSpelling()
        self.tokens = self.spelling.spells(model.words)

    def word(self, typed: str) -> str:
        if not self.tokens or typed in self.model:
            return typed
        return self.spelling.word(typed)

    def show(self, word: str) -> str:
        return repr(self.spelling.text(word)) if self.tokens else word

    def print_neighbours(self, neighbours: list[tuple[str, float]]) -> None:
        for word, score in neighbours:
            print(f"  {score:7.4f}  {self.show(word)}")


def cmd_similar(args: argparse.Namespace) -> int:
    vocabulary = Vocabulary(Word2Vec.load(args.vectors))
    for typed in args.words:
        word = vocabulary.word(typed)
        print(vocabulary.show(word))
        vocabulary.print_neighbours(vocabulary.model.most_similar(word, args.topn))
    return 0


def cmd_analogy(args: argparse.Namespace) -> int:
    vocabulary = Vocabulary(Word2Vec.load(args.vectors))
    a, b, c = (vocabulary.word(typed) for typed in (args.a, args.b, args.c))
    print(" - ".join(map(vocabulary.show, (a, b))) + " + " + vocabulary.show(c))
    vocabulary.print_neighbours(vocabulary.model.analogy(a, b, c, args.topn))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.analogies is None and args.pairs is None:
        raise ValueError("evaluate: pass --analogies FILE, --pairs FILE or both")
    model = Word2Vec.load(args.vectors)
    if args.analogies is not None:
        result = model.evaluate_analogies(args.analogies)
        print(f"analogies   {result.accuracy:.2%} ({result.correct} of {result.questions} "
              f"questions; {result.skipped} skipped for unknown words)")
    if args.pairs is not None:
        result = model.evaluate_word_pairs(args.pairs)
        print(f"word pairs  Spearman {result.spearman:.4f}, Pearson {result.pearson:.4f} "
              f"({result.pairs} pairs; {result.skipped} skipped for unknown words)")
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("word2vec", help="train, query and evaluate word vectors")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train word vectors on text files",
                             description="Train skip-gram (default) or CBOW word vectors with "
                                         "negative sampling. Words are lower-cased runs of "
                                         "letters and digits; with --tokenizer, subword tokens.")
    train.add_argument("--input", type=Path, nargs="+", required=True, metavar="PATH",
                       help="text files, or directories of .txt files")
    train.add_argument("--tokenizer", type=Path, metavar="FILE",
                       help="train on this tokenizer's tokens instead of words: " +
                            TOKENIZER_FILES)
    defaults = signature_defaults(Word2Vec.train)
    for name, kind, meaning in (
            ("dim", int, "vector size"), ("window", int, "largest distance of a context word"),
            ("negative", int, "noise words per step"), ("epochs", int, "passes over the corpus"),
            ("min_count", int, "drop words seen fewer times"),
            ("sample", float, "subsampling threshold for frequent words; 0 turns it off")):
        train.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults[name],
                           help=f"{meaning} (default: {defaults[name]})")
    train.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    train.add_argument("--alpha", type=float, default=None,
                       help="initial learning rate (default: 0.025 skip-gram, 0.05 CBOW)")
    train.add_argument("--min-alpha", type=float, default=defaults["min_alpha"],
                       help=f"learning rate at the end (default: {defaults['min_alpha']})")
    train.add_argument("--seed", type=int, default=defaults["seed"],
                       help=f"random seed (default: {defaults['seed']})")
    train.add_argument("--threads", type=int, default=None,
                       help="threads (default: LLM_NUM_THREADS, else all cores); 1 makes runs "
                            "reproducible")
    train.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="vectors file: word2vec binary if it ends in .bin, else text")
    train.set_defaults(func=cmd_train)

    similar = verbs.add_parser("similar", help="the nearest words by cosine similarity")
    similar.add_argument("--vectors", type=Path, required=True, metavar="FILE",
                         help="word2vec text or binary file")
    similar.add_argument("--topn", type=int, default=10, help="how many (default: 10)")
    similar.add_argument("words", nargs="+", metavar="WORD")
    similar.set_defaults(func=cmd_similar)

    analogy = verbs.add_parser("analogy", help="the words nearest to A - B + C "
                                               "(king man woman -> queen)")
    analogy.add_argument("--vectors", type=Path, required=True, metavar="FILE")
    analogy.add_argument("--topn", type=int, default=5, help="how many (default: 5)")
    analogy.add_argument("a", metavar="A")
    analogy.add_argument("b", metavar="B")
    analogy.add_argument("c", metavar="C")
    analogy.set_defaults(func=cmd_analogy)

    evaluate = verbs.add_parser("evaluate", help="analogy accuracy and word-pair correlation")
    evaluate.add_argument("--vectors", type=Path, required=True, metavar="FILE")
    evaluate.add_argument("--analogies", type=Path, metavar="FILE",
                          help="questions-words.txt format (': section', 'a b c d' lines)")
    evaluate.add_argument("--pairs", type=Path, metavar="FILE",
                          help="word1<TAB>word2<TAB>score lines (WordSim-353 format)")
    evaluate.set_defaults(func=cmd_evaluate)
