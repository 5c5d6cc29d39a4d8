"""Text generation: load() a model directory; sample(), a minimal sampler (temperature and top-k, no KV cache) that runs
the whole context through model.forward for every new token."""
import os
from pathlib import Path

import numpy as np

from llm.model import GPT
from llm.model.gpt import TOKENIZER_FILE
from llm.tokenizer import Tokenizer

END_OF_TEXT = ("<|endoftext|>", "<endoftext>")


def load(directory: str | os.PathLike) -> tuple[GPT, Tokenizer]:
    """The model and tokenizer of a model directory (a run's model/ or checkpoint/)."""
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"{directory}: no such model directory")
    tokenizer_path = Path(directory) / TOKENIZER_FILE
    if not tokenizer_path.is_file():
        raise FileNotFoundError(f"{tokenizer_path} not found: the model directory has no "
                                "tokenizer (a run's model/ and checkpoint/ have one)")
    return GPT.load(directory), Tokenizer.load(tokenizer_path)


def sample(model: GPT, tokenizer, prompt: str = "", max_new_tokens: int = 200,
           temperature: float = 1.0, top_k: int | None = None, seed: int | None = None) -> str:
    """The text generated after prompt (not including it).

    Each new token is drawn from softmax(logits / temperature) of the last position, given the
    last block_size tokens; top_k keeps only the k likeliest tokens; temperature 0 takes the
    likeliest token. An empty prompt starts from the end-of-text token (or a newline).
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens}: must be >= 0")
    if not temperature >= 0:
        raise ValueError(f"temperature={temperature}: must be >= 0")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k}: must be >= 1 (or None for no limit)")
    ids = tokenizer.encode(prompt) if prompt else start_ids(tokenizer)
    n_prompt = len(ids)
    rng = np.random.default_rng(seed)
    for _ in range(max_new_tokens):
        context = np.array([ids[-model.config.block_size:]], dtype=np.int32)
        logits = model.forward(context)[0, -1].astype(np.float64)
        if temperature == 0:
            ids.append(int(np.argmax(logits)))
            continue
        logits /= temperature
        if top_k is not None and top_k < logits.size:
            logits[logits < np.partition(logits, -top_k)[-top_k]] = -np.inf
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        ids.append(int(rng.choice(logits.size, p=probabilities)))
    return tokenizer.decode(ids[n_prompt:])


def end_of_text_id(tokenizer) -> int | None:
    """The id of the tokenizer's end-of-text token (byte or naive mode's), None if it has none."""
    specials = tokenizer.special_tokens
    return next((specials[token] for token in END_OF_TEXT if token in specials), None)


def start_ids(tokenizer) -> list[int]:
    end_of_text = end_of_text_id(tokenizer)
    return [end_of_text] if end_of_text is not None else tokenizer.encode("\n")
