"""Start, resume and evaluate training runs from text files: what `llm train` and `llm eval` do.

A run directory holds:
    checkpoint/      the latest checkpoint (model, tokenizer, optimizer state, trainer state)
    model/           the final model: config.json, model.safetensors, tokenizer.json
    metrics.jsonl    one line per log step (see llm.train.metrics)
    loss.svg         the loss curve, written at the end
    train.log        the log (when run through the `llm` command)

Data: text files (or directories of .txt files), each one document, tokenized with the run's
tokenizer. By default the documents are joined into one stream (separated by the tokenizer's
end-of-text token when it has one) whose first 1 - val_fraction trains and whose end validates
(llm.data.corpus, the pipeline `llm data prepare` uses too);
in document mode each document stays apart (left-padded windows) and the last documents validate.
Or one directory written by `llm data prepare`: the same stream and split, tokenized once, read
from its memory-mapped train.bin and val.bin, with its tokenizer.json. Or conversation files
(.json / .jsonl, ShareGPT / LimaRP): chat training. The tokenizer gets the chat template's
special tokens; each conversation, rendered with the template, is a document (document mode)
whose targets count only on the assistant's turns; the last conversations validate.
"""
import logging
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from llm.data.chat_template import ChatTemplate, add_chat_tokens
from llm.data.conversations import Conversation, load_conversations
from llm.data.corpus import TokenStream, split_point
from llm.data.prepare import TOKENIZER_FILE as PREPARED_TOKENIZER
from llm.data.prepare import is_prepared, load_prepared
from llm.model import GPT, GPTConfig, load
from llm.tokenizer import Tokenizer, schema
from llm.train import checkpoint, loader
from llm.train.char_tokenizer import char_tokenizer
from llm.train.distributed import ONE_PROCESS, Communicator
from llm.train.trainer import CHECKPOINT_DIR, METRICS_FILE, TrainConfig, Trainer, check_state
from llm.util.config_dict import isinstance_json
from llm.util.text import iter_files, read_text

log = logging.getLogger(__name__)

# Settings a resumed run may change (the rest fix the data, the batches or the model).
RESUMABLE_CHANGES = {"max_iters", "lr", "min_lr", "warmup_iters", "lr_decay_iters", "beta1",
                     "beta2", "eps", "weight_decay", "grad_clip", "eval_interval", "eval_batches",
                     "log_interval", "checkpoint_interval", "zero"}
# Of those, the ones that change only when the run logs, evaluates and saves, not its numbers.
BOOKKEEPING_CHANGES = {"eval_interval", "eval_batches", "log_interval", "checkpoint_interval"}
TRAIN_STREAM, VAL_STREAM = 1, 2   # second words of the loaders' seeds
CONVERSATION_SUFFIXES = (".json", ".jsonl")


def read_documents(paths: list[str | os.PathLike]) -> list[tuple[Path, str]]:
    """(path, text) of every file named by paths (directories: their .txt files). Empty
    files are skipped; no text at all is a ValueError."""
    if not paths:
        raise ValueError("no data: pass at least one text file or directory (--data PATH)")
    documents = [(path, read_text(path)) for path in iter_files(paths)]
    documents = [(path, text) for path, text in documents if text]
    if not documents:
        raise ValueError(f"empty corpus: {', '.join(map(str, paths))} hold(s) no text")
    return documents


def read_conversations(paths: list[str | os.PathLike]) -> list[Conversation] | None:
    """The conversations of paths when they name conversation files (.json, .jsonl), None
    when they name text; both at once is a ValueError."""
    files = list(iter_files(paths))
    chat = [path.suffix.lower() in CONVERSATION_SUFFIXES for path in files]
    if not any(chat):
        return None
    if not all(chat):
        raise ValueError("the data mixes conversation files (.json, .jsonl) with text files; "
                         "train on one kind")
    return [conversation for path in files for conversation in load_conversations(path)]


def encode_documents(tokenizer: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """Token ids (int32) of each text."""
    return [tokenizer.encode_to_numpy(text) for text in texts]


@dataclass
class Data:
    """The run's batches: train and val loaders, and facts to check a resume against."""

    train: loader.WindowLoader
    val: loader.WindowLoader
    info: dict


def make_data(tokenizer: Tokenizer, paths: list[str | os.PathLike], block_size: int,
              config: TrainConfig, documents: bool,
              conversations: list[Conversation] | None = None,
              comm: Communicator = ONE_PROCESS) -> Data:
    """The loaders of the text files named by paths (seeded from config.seed; validation
    batches are the same at every evaluation): one token stream split by llm.data.corpus, or
    with documents (or conversations, rendered with the chat template, targets on the
    assistant's turns) each document apart, the last ones validating. The loaders draw comm's
    global batches and build this rank's rows."""
    if not paths:
        raise ValueError("no data: pass at least one text file or directory (--data PATH)")
    seeds = [config.seed, TRAIN_STREAM], [config.seed, VAL_STREAM]
    ranks = {"ranks": comm.size, "rank": comm.rank}
    if not (documents or conversations):
        stream = TokenStream(tokenizer, paths)
        tokens = stream.tokens()
        n_train = split_point(len(tokens), config.val_fraction)
        train = loader.StreamLoader(tokens[:n_train], block_size, config.batch_size, seeds[0],
                                    f"training data (first {1 - config.val_fraction:.0%})",
                                    **ranks)
        val = loader.StreamLoader(tokens[n_train:], block_size, config.batch_size, seeds[1],
                                  f"validation data (last {config.val_fraction:.0%})", **ranks)
        return _data(train, val, len(stream.sources), n_train, len(tokens) - n_train,
                     stream.checksum)
    target_masks = None
    if conversations is None:
        encoded = encode_documents(tokenizer, [text for _, text in read_documents(paths)])
    else:
        template = ChatTemplate(tokenizer)
        encoded, target_masks = map(list, zip(*map(template.render, conversations)))
    train_docs, val_docs = loader.split_documents(encoded, config.val_fraction)
    train_masks, val_masks = (None, None) if target_masks is None else \
        loader.split_documents(target_masks, config.val_fraction)
    train = loader.DocumentLoader(train_docs, block_size, config.batch_size, seeds[0],
                                  "training data", train_masks, **ranks)
    val = loader.DocumentLoader(val_docs, block_size, config.batch_size, seeds[1],
                                "validation data", val_masks, **ranks)
    checksum = 0
    for doc in encoded:
        checksum = zlib.crc32(doc.tobytes(), checksum)
    return _data(train, val, len(encoded), sum(map(len, train_docs)), sum(map(len, val_docs)),
                 checksum)


def _data(train, val, n_documents: int, n_train: int, n_val: int, checksum: int) -> Data:
    log.info("data: %d document(s), %d training and %d validation tokens", n_documents, n_train,
             n_val)
    return Data(train, val, {"train_tokens": n_train, "val_tokens": n_val, "checksum": checksum})


def prepared_directory(data: list[str | os.PathLike] | None) -> Path | None:
    """The directory when data names one directory written by `llm data prepare`, else None."""
    return Path(data[0]) if data and len(data) == 1 and is_prepared(data[0]) else None


def data_paths(data: list[str | os.PathLike]) -> list[str]:
    """The resolved paths a run records for data: its files, or its prepared directory."""
    prepared_dir = prepared_directory(data)
    return [str(path.resolve()) for path in ([prepared_dir] if prepared_dir else iter_files(data))]


def prepared_data(directory: Path, block_size: int, config: TrainConfig,
                  comm: Communicator = ONE_PROCESS) -> Data:
    """The loaders of a prepared directory: its train.bin and val.bin as they are (the split
    was fixed when it was prepared; config.val_fraction must be the same), memory-mapped by
    every rank, each building its rows of comm's global batches."""
    train_tokens, val_tokens, meta = load_prepared(directory)
    if meta["val_fraction"] != config.val_fraction:
        raise ValueError(f"{directory} was prepared with val_fraction={meta['val_fraction']}; "
                         f"pass --val-fraction {meta['val_fraction']} or prepare it again")
    seeds = [config.seed, TRAIN_STREAM], [config.seed, VAL_STREAM]
    ranks = {"ranks": comm.size, "rank": comm.rank}
    train = loader.StreamLoader(train_tokens, block_size, config.batch_size, seeds[0],
                                f"training data ({directory}/train.bin)", **ranks)
    val = loader.StreamLoader(val_tokens, block_size, config.batch_size, seeds[1],
                              f"validation data ({directory}/val.bin)", **ranks)
    log.info("data: %s, %d training and %d validation tokens", directory, len(train_tokens),
             len(val_tokens))
    return Data(train, val, {"train_tokens": len(train_tokens), "val_tokens": len(val_tokens),
                             "checksum": zlib.crc32(val_tokens, zlib.crc32(train_tokens))})


def prepared_tokenizer(directory: Path, tokenizer, documents: bool) -> Tokenizer:
    """The tokenizer of a prepared directory; tokenizer (what the caller asked for) must be
    None or the same one."""
    own = Tokenizer.load(directory / PREPARED_TOKENIZER)
    if isinstance(tokenizer, (str, os.PathLike)) and tokenizer != "char":
        tokenizer = Tokenizer.from_pretrained(tokenizer)
    if tokenizer is not None and (tokenizer == "char" or
                                  schema.to_json(tokenizer.spec) != schema.to_json(own.spec)):
        raise ValueError(f"{directory} was tokenized with its own {PREPARED_TOKENIZER}; leave "
                         "out --tokenizer/--char (or prepare the data with that tokenizer)")
    if documents:
        raise ValueError(f"{directory} is one prepared token stream; document mode "
                         "(--documents) needs the text files")
    return own


def start(data: list[str | os.PathLike], run_dir: str | os.PathLike, model_config: dict,
          config: TrainConfig = TrainConfig(),
          tokenizer: Tokenizer | str | os.PathLike | None = "char",
          documents: bool = False, comm: Communicator = ONE_PROCESS,
          init_from: str | os.PathLike | None = None) -> Trainer:
    """A Trainer for a new run in run_dir.

    data: text files or directories, or one directory written by `llm data prepare` (its own
    tokenizer is used; tokenizer may then be None), or conversation files (chat training: the
    chat tokens are added to the tokenizer). tokenizer: "char" (build a character-level
    tokenizer from the data), a trained Tokenizer, or the path of one (what
    Tokenizer.from_pretrained reads: our tokenizer.json, Hugging Face's, GPT-2's files).
    model_config: GPTConfig fields except vocab_size (from the tokenizer) and seed
    (config.seed); block_size is required.
    documents: keep documents apart (left-padded windows) instead of joining them.
    comm: the data-parallel ranks this process is one of (llm.train.distributed.connect());
    config.batch_size is per rank.
    init_from: fine-tune a trained model instead: a model directory (ours, or a Hugging Face
    GPT-2 one) whose model and tokenizer the run starts from (tokenizer must then be None);
    model_config may only shorten its block_size (default: the model's). Chat tokens the
    tokenizer lacks get new embedding rows.
    """
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_DIR).exists():
        raise ValueError(f"{run_dir} already holds a run (it has {CHECKPOINT_DIR}/); continue it "
                         "with --resume or choose another --out")
    prepared_dir = prepared_directory(data)
    conversations = None if prepared_dir else read_conversations(data)
    pretrained = None
    if init_from is not None:
        pretrained, tokenizer = pretrained_start(init_from, tokenizer, model_config)
        model_config = {"block_size": model_config.get("block_size",
                                                       pretrained.config.block_size)}
    if prepared_dir is not None:
        tokenizer = prepared_tokenizer(prepared_dir, tokenizer, documents)
        tokenizer_source = str((prepared_dir / PREPARED_TOKENIZER).resolve())
    else:
        if init_from is not None:
            tokenizer_source = str(Path(init_from).resolve())
        elif isinstance(tokenizer, Tokenizer):
            tokenizer_source = "given"
        elif tokenizer == "char":
            tokenizer_source = "char"
            tokenizer = char_tokenizer(
                [text for _, text in read_documents(data)] if conversations is None else
                [turn.text for conversation in conversations for turn in conversation])
        else:
            tokenizer_source = str(Path(tokenizer).resolve())
            tokenizer = Tokenizer.from_pretrained(tokenizer)
    if conversations is not None:
        add_chat_tokens(tokenizer)
    for key in ("vocab_size", "seed"):
        if key in model_config:
            raise ValueError(f"model_config: {key} is set by the run (the tokenizer's vocabulary "
                             "and the training seed); leave it out")
    if pretrained is None:
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, seed=config.seed, **model_config))
    else:
        model = pretrained.resized(model_config["block_size"],
                                   max(tokenizer.vocab_size, pretrained.config.vocab_size))
        log.info("fine-tuning %s", init_from)
    gpt_config = model.config
    prepared = (prepared_data(prepared_dir, gpt_config.block_size, config, comm) if prepared_dir
                else make_data(tokenizer, data, gpt_config.block_size, config, documents,
                               conversations, comm))
    log.info("model: %s parameters (%s); tokenizer: %s", f"{model.num_parameters:,}",
             ", ".join(f"{k}={v}" for k, v in gpt_config.to_dict().items()), tokenizer)
    run_info = {"data": data_paths(data), "documents": documents,
                "tokenizer": tokenizer_source, **prepared.info}
    if init_from is not None:
        run_info["init_from"] = str(Path(init_from).resolve())
    if comm.rank == 0:
        (run_dir / METRICS_FILE).unlink(missing_ok=True)
    return Trainer(model, prepared.train, prepared.val, config, run_dir, tokenizer, run_info,
                   comm)


def pretrained_start(init_from: str | os.PathLike, tokenizer,
                     model_config: dict) -> tuple[GPT, Tokenizer]:
    """The model and tokenizer a fine-tuning run starts from, after checking that the caller
    chose neither another tokenizer nor another shape."""
    if tokenizer is not None:
        raise ValueError("a fine-tuned model keeps the tokenizer it was trained with; leave out "
                         "--tokenizer/--char with --init-from")
    reshaped = sorted(set(model_config) - {"block_size"})
    if reshaped:
        raise ValueError(f"{', '.join(reshaped)}: a fine-tuned model keeps its shape (only a "
                         "shorter --block-size may be given with --init-from)")
    return load(init_from)


def resume(run_dir: str | os.PathLike, changes: dict | None = None,
           data: list[str | os.PathLike] | None = None,
           comm: Communicator = ONE_PROCESS) -> Trainer:
    """A Trainer continuing the run in run_dir from its checkpoint, reading the same data.

    changes: TrainConfig fields to change (only those in RESUMABLE_CHANGES, e.g. max_iters to
    train longer); the run then no longer matches an uninterrupted one.
    data: None (the run's own files), or the same files (or prepared directory) the run
        started with.
    comm: the data-parallel ranks, as many as the checkpoint's or any number that divides its
        global batch (batch_size x ranks): batch_size per rank changes to keep the global batch,
        and the run continues as if it had never stopped (every rank reads the checkpoint).
    """
    run_dir = Path(run_dir)
    saved = checkpoint.load(run_dir / CHECKPOINT_DIR)
    check_state(saved)
    state, info = saved.state, saved.state["run"]
    state_file = saved.directory / checkpoint.STATE_FILE
    try:
        config = TrainConfig.from_dict(state["train_config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{state_file}: train_config: {error}") from None
    if not (isinstance(info.get("data"), list) and all(isinstance(p, str) for p in info["data"])
            and isinstance(info.get("documents"), bool)
            and isinstance_json(info.get("checksum"), (int,))):
        raise ValueError(f"{state_file}: run does not name the run's data (data, documents, "
                         "checksum); the checkpoint is damaged or was edited by hand")
    changes = {key: value for key, value in (changes or {}).items()
               if getattr(config, key) != value}
    refused = sorted(set(changes) - RESUMABLE_CHANGES)
    if refused:
        raise ValueError(f"cannot change {', '.join(refused)} when resuming (they fix the data, "
                         f"the batches or the model); only {sorted(RESUMABLE_CHANGES)} may change")
    if set(changes) - BOOKKEEPING_CHANGES:
        log.warning("resuming with changed settings %s: the run will differ from one trained "
                    "straight through", changes)
    elif changes:
        log.info("resuming with changed settings %s (when to log, evaluate and save: the "
                 "training itself is unchanged)", changes)
    config = per_rank_batch(replace(config, **changes), state["ranks"], comm.size)
    if data and data_paths(data) != info["data"]:
        raise ValueError(f"--data names other files than the run's ({', '.join(info['data'])});"
                         " a resumed run reads its own data: leave --data out")
    if saved.tokenizer is None:
        raise ValueError(f"{saved.directory} has no tokenizer.json; the checkpoint is incomplete")
    prepared_dir = prepared_directory(info["data"])
    block_size = saved.model.config.block_size
    conversations = None if prepared_dir else read_conversations(info["data"])
    prepared = (prepared_data(prepared_dir, block_size, config, comm) if prepared_dir else
                make_data(saved.tokenizer, info["data"], block_size, config, info["documents"],
                          conversations, comm))
    if prepared.info["checksum"] != info["checksum"]:
        raise ValueError(f"the data ({', '.join(info['data'])}) changed since the run started "
                         "(its tokens differ); resume needs the same data")
    trainer = Trainer(saved.model, prepared.train, prepared.val, config, run_dir,
                      saved.tokenizer, info, comm)
    trainer.restore(saved)
    log.info("resumed %s at step %d of %d", run_dir, trainer.step, config.max_iters)
    return trainer


def per_rank_batch(config: TrainConfig, saved_ranks: int, ranks: int) -> TrainConfig:
    """config with the batch_size per rank that keeps the global batch of a run saved by
    saved_ranks processes on `ranks` of them (ValueError when they cannot share it evenly)."""
    if ranks == saved_ranks:
        return config
    global_batch = config.batch_size * saved_ranks
    if global_batch % ranks:
        fits = [n for n in range(1, global_batch + 1) if global_batch % n == 0]
        raise ValueError(f"the run's global batch of {global_batch} sequences ({saved_ranks} "
                         f"ranks x {config.batch_size}) cannot be split evenly over {ranks} "
                         f"ranks; resume it on {', '.join(map(str, fits))} processes")
    log.info("resuming on %d ranks (saved on %d): batch size %d per rank keeps the global batch "
             "of %d", ranks, saved_ranks, global_batch // ranks, global_batch)
    return replace(config, batch_size=global_batch // ranks)
