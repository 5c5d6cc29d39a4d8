"""`llm export`: write a model directory in another format.

    llm export --model runs/shakespeare/model --format hf --out shakespeare-hf   # for transformers
    llm export --model gpt2 --format llm --out gpt2-llm                         # our own format
"""
import argparse
from pathlib import Path

from llm.model import load

FORMATS = {
    "hf": "a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer.json, "
          "vocab.json, merges.txt) that transformers' AutoModelForCausalLM and AutoTokenizer "
          "load with no extra arguments",
    "llm": "this project's model directory (config.json, model.safetensors, tokenizer.json)",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a model in Hugging Face's GPT-2 format (or ours)",
        description="Write the model and tokenizer of a model directory (ours or a Hugging "
                    "Face GPT-2 one) to a new directory in another format. Formats: " +
                    "; ".join(f"{name}: {text}" for name, text in FORMATS.items()) + ".")
    parser.add_argument("--model", type=Path, required=True, metavar="DIR",
                        help="a model directory (a run's model/ or checkpoint/, or a Hugging "
                             "Face GPT-2 directory)")
    parser.add_argument("--format", choices=FORMATS, default="hf",
                        help="what to write (default hf)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a new or empty directory")
    parser.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ValueError(f"{args.out} exists and is not an empty directory; choose a new --out "
                         "(export never overwrites files)")
    model, tokenizer = load(args.model)
    if args.format == "hf":
        model.save_pretrained(args.out, tokenizer)
    else:
        model.save(args.out, tokenizer)
    print(f"wrote {args.out} ({args.format} format: {model.num_parameters:,} parameters, "
          f"{tokenizer.vocab_size:,} tokens)")
    return 0
