"""`llm data download|prepare|info`.

    llm data download tinyshakespeare gutenberg:2701     # into data/ (or --dir, $LLM_DATA_DIR)
    llm data download limarp                             # HF_TOKEN is sent when set
    llm data prepare --tokenizer tok.json --input data/tinyshakespeare.txt --out data/shakespeare
    llm train --data data/shakespeare --out runs/shakespeare   # trains on the prepared arrays
    llm data info                                        # the named datasets
    llm data info data/shakespeare                       # a prepared directory, a conversation
                                                         # file (.json/.jsonl) or text files
"""
import argparse
import json
from pathlib import Path

from llm.cli.options import TOKENIZER_FILES
from llm.data import conversations, download, prepare
from llm.data.corpus import VAL_FRACTION
from llm.util.text import iter_files


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="download corpora, prepare token arrays, inspect",
                                 description="Download named corpora, tokenize corpora once into "
                                             "memory-mapped token arrays, inspect data files.")
    verbs = data.add_subparsers(dest="verb", metavar="VERB", required=True)

    names = ", ".join([*download.SOURCES, download.GUTENBERG.name])
    get = verbs.add_parser(
        "download", help="download datasets by name (resumable, checksummed)",
        description=f"Download datasets by name ({names}). An interrupted download resumes "
                    "when run again; the file's SHA-256 is checked (known checksums) or "
                    "recorded beside it in FILE.sha256.")
    get.add_argument("names", nargs="+", metavar="NAME", help=names)
    get.add_argument("--dir", type=Path, metavar="DIR",
                     help="destination (default: $LLM_DATA_DIR, else data/)")
    get.add_argument("--url", help="download from this URL instead (one NAME only); the "
                                   "registry's checksum is then not applied")
    get.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the file, or 'none' "
                                                     "to skip the check")
    get.set_defaults(func=cmd_download)

    make = verbs.add_parser(
        "prepare", help="tokenize text files once into train/val token arrays",
        description="Tokenize text files into DIR/train.bin and DIR/val.bin (uint16 or uint32 "
                    "ids, memory-mapped by `llm train --data DIR`), with DIR/meta.json and a "
                    "copy of the tokenizer. Files are joined in order (end-of-text between "
                    "them); the last --val-fraction of the tokens validate, as `llm train` "
                    "splits text files.")
    make.add_argument("--tokenizer", type=Path, required=True, metavar="FILE",
                      help=TOKENIZER_FILES)
    make.add_argument("--input", nargs="+", required=True, metavar="PATH",
                      help="text files or directories of .txt files")
    make.add_argument("--out", type=Path, required=True, metavar="DIR")
    make.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                      help=f"default {VAL_FRACTION}")
    make.add_argument("--force", action="store_true",
                      help="replace DIR if it holds prepared data")
    make.set_defaults(func=cmd_prepare)

    show = verbs.add_parser(
        "info", help="describe the named datasets, or a prepared directory or data file",
        description="Without PATH: the datasets `llm data download` knows. With PATH: a "
                    "prepared directory's meta, a conversation file's counts (.json/.jsonl) "
                    "or the size of text files.")
    show.add_argument("path", nargs="?", type=Path, metavar="PATH")
    show.set_defaults(func=cmd_info)


def cmd_download(args: argparse.Namespace) -> int:
    if args.url and len(args.names) > 1:
        raise ValueError("--url names one file: pass a single NAME with it")
    for name in args.names:
        path = download.download(name, args.dir, args.url, args.sha256)
        print(f"{name}: {path} ({path.stat().st_size:,} bytes); "
              f"card: {download.resolve(name).card}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    meta = prepare.prepare(args.tokenizer, args.input, args.out, args.val_fraction, args.force)
    print(f"{args.out}: {meta['train_tokens']:,} training and {meta['val_tokens']:,} validation "
          f"tokens ({meta['dtype']}) from {len(meta['sources'])} file(s)\n"
          f"train on it:  llm train --data {args.out} --out runs/NAME")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    path = args.path
    if path is None:
        for source in [*download.SOURCES.values(), download.GUTENBERG]:
            print(f"{source.name:16} {source.description}\n{'':16} {source.url}\n"
                  f"{'':16} file {source.filename}, card {source.card}")
        return 0
    if prepare.is_prepared(path):
        *_, meta = prepare.load_prepared(path)   # checks the arrays against the meta
        print(json.dumps(meta, indent=2))
    elif path.is_file() and path.suffix in (".json", ".jsonl"):
        print(json.dumps(conversations.describe(conversations.load_conversations(path)),
                         indent=2))
    else:
        files = list(iter_files(path))
        size = sum(file.stat().st_size for file in files)
        print(f"{path}: {len(files)} text file(s), {size:,} bytes")
    return 0
