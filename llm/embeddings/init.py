"""A model's token embedding table initialised from trained word2vec vectors."""
import logging
from collections.abc import Sequence

import numpy as np

from llm.embeddings.word2vec import Word2Vec

log = logging.getLogger(__name__)


def init_embedding_table(tokens: Sequence[str], vectors: Word2Vec, d_model: int,
                         rng: np.random.Generator, *, std: float = 0.02, rescale: bool = True,
                         out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The (len(tokens), d_model) float32 table whose row i is the vector of tokens[i], and the
    number of tokens that have no vector (their rows are drawn from N(0, std²), as the model's
    own initialisation draws them).

    tokens: the model's vocabulary as strings, in id order — the same strings word2vec trained
    on (words, or the tokenizer's token strings). vectors.dim must equal d_model.
    rescale: multiply the trained vectors by one factor so that their elements' standard
    deviation is std; directions, hence every cosine similarity, are kept, and the rows sit at
    the scale the rest of the model is initialised for.
    out: a (len(tokens), d_model) float32 array to fill in place (the model's parameter view);
    by default a new array.
    """
    if vectors.dim != d_model:
        raise ValueError(f"the word vectors have dimension {vectors.dim} but the model's "
                         f"d_model is {d_model}; train word2vec with --dim {d_model}")
    shape = (len(tokens), d_model)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out has shape {out.shape} and dtype {out.dtype}; expected {shape} "
                         "float32")
    rows = np.array([vectors.index.get(token, -1) for token in tokens], dtype=np.int64)
    known = rows >= 0
    scale = 1.0
    if rescale and known.any():
        spread = float(vectors.vectors[rows[known]].std())
        scale = std / spread if spread > 0 else 1.0
    out[known] = vectors.vectors[rows[known]] * scale
    n_missing = int((~known).sum())
    out[~known] = rng.normal(0.0, std, size=(n_missing, d_model))
    log.info("embedding table: %d of %d tokens initialised from word2vec, %d at random",
             len(tokens) - n_missing, len(tokens), n_missing)
    return out, n_missing
