"""The GPT model: token and position embeddings, n_layer transformer blocks, a final LayerNorm
(pre-norm only) and the lm head, run forward and backward through our C kernels.

The layers (llm/model/layers.py) hold views into one flat float32 buffer of parameters,
`params`, and one of gradients, `grads`. Every tensor a backward pass reads is kept by the
forward pass in arrays of a BufferPool that only grows, taken once per batch shape (B, T) and
reused by every later call. Parameter gradients accumulate (+=) into `grads` until `zero_grad()`,
as in PyTorch, so micro-batches can be summed; `backward(accumulate=False)` writes them instead,
the zeroing pass and the reads of zeros saved.

Generation: forward_cached runs the same block code on the new positions only, its attention
step reading the earlier positions' keys and values from a KVCache (llm/model/kv_cache.py)
instead of recomputing them; generate / generate_stream (llm/model/generation.py) sample with it.

Inference in 16 bits: to_inference_dtype("bf16" | "f16") stores the matrices in 16 bits and
frees their float32 copies, halving the bytes a generated token streams from memory; such a
model generates and evaluates (forward, loss) but does not train (backward) or save.
"""
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from llm._ext import crossentropy
from llm.model import directory as model_directory
from llm.model import generation, pretrained
from llm.model.config import GPTConfig
from llm.model.layers import Block, BufferPool, GPTLayers, LayerNorm, Linear, ResidualSum
from llm.model.parameters import TensorBuffer, decay_mask, initialize
from llm.model.positional import position_ids
from llm.model.sampling import SamplingConfig

IGNORE_INDEX = -1
# Weight types for inference: float32, bfloat16 (float32's range, 8 significant bits) and IEEE
# half (f16: 11 significant bits, values up to 65504).
INFERENCE_DTYPES = ("f32", "bf16", "f16")


class _Activations:
    """The tensors of one forward of (B, T) positions, taken from pool: the token ids and their
    positions, the embeddings, the final LayerNorm's (`ln_f`, pre-norm) and the logits, which
    hold d loss / d logits once loss() has run. Training keeps each block's tensors (`blocks`)
    and backward's scratch. A forward_cached call (for_cache) keeps nothing for backward: every
    block reuses one set of block tensors (`block`), its output being the next block's input,
    which the block code reads before overwriting it; the lm head reads the last position only,
    `last` (B, C) (a view of it when T = 1, else a copy). The ResidualSums are made here, once,
    not per call."""

    def __init__(self, config: GPTConfig, batch_size: int, seq_len: int, pool: BufferPool,
                 for_cache: bool = False):
        B, T, C = batch_size, seq_len, config.d_model
        self.shape = (B, T)
        self.idx = pool.take("idx", (B, T), np.int32)
        self.positions = pool.take("positions", (B, T), np.int32)
        self.embedded = pool.take("embedded", (B, T, C))                  # token embedding
        self.position_embedded = pool.take("position_embedded", (B, T, C))
        self.embedding_sum = ResidualSum(self.embedded, self.position_embedded)
        head_rows = (B,) if for_cache else (B, T)
        self.ln_f = LayerNorm.activations(pool, "ln_f.", head_rows + (C,)) \
            if config.norm == "pre" else None
        self.logits = pool.take("logits", head_rows + (config.vocab_size,))
        if for_cache:
            self.block = Block.activations(pool, "block.", config, B, T)
            top = self.block.output.x       # the last block's output, once completed
            self.last = top.reshape(B, C) if T == 1 else pool.take("last", (B, C))
            self.last_sum = ResidualSum(self.last)
            self.head_input = self.last if self.ln_f is None else self.ln_f.out
            return
        self.key_mask = pool.take("key_mask", (B, T), np.uint8)
        self.targets = pool.take("targets", (B * T,), np.int32)
        self.blocks = [Block.activations(pool, f"h.{layer}.", config, B, T)
                       for layer in range(config.n_layer)]
        self.scratch = Block.backward_scratch(pool, config, B, T)
        self.top = self.blocks[-1].output.x       # the last block's output, once completed
        self.head_input = self.top if self.ln_f is None else self.ln_f.out


class GPT:
    """A GPT language model whose parameters live in one flat float32 buffer.

    params / grads: TensorBuffer with GPT-2 names, e.g. params["h.0.attn.c_attn.weight"] (C, 3C).
    transformer: the layers (wte, wpe, h, ln_f, lm_head: llm.model.layers.GPTLayers), viewing
    params and grads.
    """

    def __init__(self, config: GPTConfig, *, init: bool = True):
        """init=False leaves the parameters zero, for a loader that fills them (load,
        from_pretrained): the buffers are then untouched pages, which cost no memory until
        written (the gradients' until training)."""
        self.config = config
        self.transformer = GPTLayers(config)
        self.params = TensorBuffer(self.transformer.parameter_shapes())
        self.grads = self.params.like()
        if init:
            initialize(self.params, config)
        self.transformer.bind(self.params, self.grads)
        self._num_parameters = self.params.size
        self.dtype = "f32"             # the matrices' type: to_inference_dtype
        self._pool = BufferPool()
        self._acts: _Activations | None = None
        self._key_mask = None          # the last forward's attention key mask, or None
        self._loss_ready = False       # loss() ran since the last forward: backward() may run

    @property
    def num_parameters(self) -> int:
        return self._num_parameters

    @property
    def parameter_bytes(self) -> int:
        """Bytes the parameters take: the float32 buffer, plus the 16-bit matrices after
        to_inference_dtype."""
        return self.params.flat.nbytes + sum(
            layer.weight.nbytes for layer in self._half_layers() if layer.weight_dtype != "f32")

    def _half_layers(self):
        """The layers whose weight to_inference_dtype stores in 16 bits: the token embedding
        and every Linear with a weight of its own (a tied lm head reads the embedding's)."""
        wte = self.transformer.wte
        return [wte] + [layer for layer in self.transformer.layers()
                        if isinstance(layer, Linear) and layer.weight is not wte.weight]

    def to_inference_dtype(self, dtype: str) -> "GPT":
        """Store the matrices — every Linear's weight and the token embedding (so a tied lm
        head) — as dtype: "bf16" or "f16" (16-bit bits, rounded to nearest even; f16 turns
        magnitudes over 65504 into infinity), or "f32" (no change). Their float32 copies are
        freed: the model's parameters take about half the memory, and a generated token
        streams half the bytes; the kernels widen the weights as they read them and sum in
        float32. Biases, LayerNorms and the position table stay float32. For inference only:
        backward (training), save and resized then raise; loss still evaluates. Returns the
        model."""
        if dtype not in INFERENCE_DTYPES:
            raise ValueError(f"dtype={dtype!r}: expected one of {', '.join(INFERENCE_DTYPES)}")
        if dtype == self.dtype:
            return self
        if self.dtype != "f32":
            raise ValueError(f"the model's weights are already {self.dtype}; load it again to "
                             f"have them as {dtype}")
        layers = self._half_layers()
        for layer in layers:
            layer.weight_to_half(dtype)
        # the float32 buffer without the matrices: the old one (and its views) are dropped
        params = TensorBuffer(self.transformer.parameter_shapes())
        for name, view in params.items():
            view[...] = self.params[name]
        self.params, self.grads = params, params.like()
        self.transformer.bind(self.params, self.grads)
        self.dtype = dtype
        return self

    def _require_float32(self, action: str) -> None:
        if self.dtype != "f32":
            raise RuntimeError(f"{action} needs float32 weights, but this model's were "
                               f"converted to {self.dtype} for inference; load the model again "
                               "without a dtype")

    def decay_mask(self) -> np.ndarray:
        """(num_parameters,) uint8 for adamw_step: 1 on the matrices (weight decay), 0 on biases,
        LayerNorm parameters and embeddings."""
        return decay_mask(self.params)

    def init_token_embedding(self, tokens, vectors, *, rescale: bool = True) -> int:
        """Set the token embedding (and so a tied lm head) from trained word2vec vectors.

        tokens: the vocabulary as strings in id order (len = vocab_size), the strings word2vec
        trained on; vectors: an llm.embeddings.Word2Vec of dimension d_model. Rows of tokens
        without a vector are drawn from N(0, 0.02^2) (seeded by config.seed); rescale scales the
        trained vectors to the same standard deviation. Returns the number of such tokens (the
        helper also logs it).
        """
        # imported here: the model needs word2vec only when this is used
        from llm.embeddings.init import init_embedding_table

        self._require_float32("init_token_embedding")
        if len(tokens) != self.config.vocab_size:
            raise ValueError(f"{len(tokens)} tokens given for a vocabulary of "
                             f"{self.config.vocab_size}; pass every token string in id order")
        _, missing = init_embedding_table(tokens, vectors, self.config.d_model,
                                          np.random.default_rng(self.config.seed),
                                          rescale=rescale, out=self.params["wte.weight"])
        return missing

    def resized(self, block_size: int | None = None, vocab_size: int | None = None) -> "GPT":
        """A copy of the model for fine-tuning: block_size no longer than the model's keeps the
        first rows of the position table (a shorter context trains faster); vocab_size no
        smaller than the model's appends rows to the token embedding (and an untied lm head)
        for tokens added to the tokenizer, drawn like a new model's (seeded by config.seed).
        Neither changing gives the model itself (no second copy of its weights)."""
        self._require_float32("resized")
        config = self.config
        block_size = config.block_size if block_size is None else block_size
        vocab_size = config.vocab_size if vocab_size is None else vocab_size
        if block_size > config.block_size:
            raise ValueError(f"block_size={block_size}: the model was trained on contexts of up "
                             f"to {config.block_size} tokens and has no positions beyond them")
        if vocab_size < config.vocab_size:
            raise ValueError(f"vocab_size={vocab_size}: smaller than the model's "
                             f"{config.vocab_size}; tokens cannot be removed")
        if (block_size, vocab_size) == (config.block_size, config.vocab_size):
            return self
        model = GPT(replace(config, block_size=block_size, vocab_size=vocab_size))
        for name, view in model.params.items():
            rows = min(len(view), len(self.params[name]))   # only wte, wpe, lm_head differ
            view[:rows] = self.params[name][:rows]
        return model

    def zero_grad(self) -> None:
        self.grads.flat.fill(0.0)

    # ---------------------------------------------------------------- forward

    def forward(self, idx: np.ndarray, padding_mask: np.ndarray | None = None) -> np.ndarray:
        """Logits (B, T, vocab_size) float32 (a new array) for token ids idx (B, T) int.

        padding_mask: (B, T), nonzero = real token, 0 = padding (left padding): padded keys are
        invisible to attention and positions count from each row's first real token.
        """
        self._forward(idx, padding_mask)
        return self._acts.logits.copy()

    def _forward(self, idx: np.ndarray, padding_mask: np.ndarray | None) -> None:
        cfg = self.config
        idx = np.asarray(idx)
        if idx.ndim != 2:
            raise ValueError(f"idx has shape {idx.shape}; expected (B, T) token ids")
        B, T = idx.shape
        if not 1 <= T <= cfg.block_size:
            raise ValueError(f"sequence length T={T} must be in [1, block_size={cfg.block_size}]")
        self._check_ids("idx", idx)
        if self._acts is None or self._acts.shape != (B, T):
            self._acts = _Activations(cfg, B, T, self._pool)
        acts = self._acts
        self._loss_ready = False
        acts.idx[...] = idx
        self._key_mask = None
        if padding_mask is not None:
            padding_mask = np.asarray(padding_mask)
            if padding_mask.shape != (B, T):
                raise ValueError(f"padding_mask has shape {padding_mask.shape}; expected {(B, T)}")
            np.not_equal(padding_mask, 0, out=acts.key_mask)
            self._key_mask = acts.key_mask
        position_ids(B, T, padding_mask, out=acts.positions)

        x = self._embed(acts)
        for block, block_acts in zip(self.transformer.h, acts.blocks):
            x = block.forward(block_acts, x, self._key_mask)
        self._head_forward(acts, x)

    def forward_cached(self, idx: np.ndarray, cache, padding_mask: np.ndarray | None = None
                       ) -> np.ndarray:
        """Logits (B, vocab_size) float32 of the last of idx's positions, the earlier positions
        being those held by cache (an llm.model.KVCache of this model); the keys and values of
        idx's positions are appended to it. Equals forward(every id so far)[:, -1] up to float
        rounding.

        idx: (B, T) token ids: the prompt on the first call (the prefill), then one position per
        generated token. padding_mask: (B, T) as forward, on the first call only (left-padded
        prompts: the padding lies within them). The result is the cache's buffer, overwritten
        by the next call: copy it to keep it.
        """
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[0] != cache.batch_size:
            raise ValueError(f"idx has shape {idx.shape}; expected ({cache.batch_size}, T) "
                             "token ids, one row per cache row")
        if idx.dtype != np.int32:   # int32 ids go to the embedding kernel as they are; it checks
            self._check_ids("idx", idx)     # their range (a generation step saves 3 us)
        B, T = idx.shape
        acts = cache.activations
        if acts is None or acts.shape != (B, T):
            acts = cache.activations = _Activations(self.config, B, T, BufferPool(),
                                                for_cache=True)
        cache.begin(T, padding_mask, acts.positions)
        acts.idx[...] = idx
        x = self._embed(acts)
        for block in self.transformer.h:
            x = block.forward(acts.block, x, None, cache)
        top = x.complete()
        if T > 1:
            acts.last[...] = top[:, -1]
        self._head_forward(acts, acts.last_sum)
        cache.commit()
        return acts.logits

    def _embed(self, acts) -> ResidualSum:
        """The blocks' input: token embedding of acts.idx (into acts.embedded) plus position
        embedding of acts.positions (into acts.position_embedded), the sum left to block 0."""
        self.transformer.wte.forward(acts.embedded, acts.idx)
        self.transformer.wpe.forward(acts.position_embedded, acts.positions)
        return acts.embedding_sum

    def _head_forward(self, acts, x: ResidualSum) -> None:
        """acts.logits (..., V) = lm_head(ln_f(x)) pre-norm (the sum completed into x.x),
        lm_head(x) post-norm (whose blocks leave no addend), x (..., C) the last block's output;
        acts.head_input is what the head reads."""
        if self.transformer.ln_f is not None:
            self.transformer.ln_f.forward(acts.ln_f, x.x, x.addend)
        self.transformer.lm_head.forward(acts.logits, acts.head_input)

    def _check_ids(self, name: str, ids: np.ndarray) -> None:
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} has dtype {ids.dtype}; expected integer token ids")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"{name} holds ids in [{ids.min()}, {ids.max()}], outside the "
                             f"vocabulary [0, {self.config.vocab_size})")

    def generate(self, prompt_ids, max_new_tokens: int, sampling: SamplingConfig | None = None,
                 stop_tokens=()) -> list:
        """New token ids after prompt_ids (one prompt, or a batch of prompts of any lengths),
        with a KV cache: see llm.model.generation (stop tokens, sliding window)."""
        return generation.generate(self, prompt_ids, max_new_tokens, sampling, stop_tokens)

    def generate_stream(self, prompt_ids, max_new_tokens: int,
                        sampling: SamplingConfig | None = None, stop_tokens=()):
        """generate, one token at a time as it is produced (a generator): see
        llm.model.generation.generate_stream."""
        return generation.generate_stream(self, prompt_ids, max_new_tokens, sampling,
                                          stop_tokens)

    # ---------------------------------------------------------------- loss and backward

    def loss(self, idx: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None,
             padding_mask: np.ndarray | None = None, mean_count: int | None = None) -> float:
        """Mean cross-entropy (with the config's label smoothing) of targets (B, T) int given
        idx (B, T) and padding_mask (as forward); mask (B, T), nonzero = this target counts
        (e.g. not padding, or an assistant turn in a chat; targets elsewhere are not read).
        mean_count: None (the mean is over the targets counted here), or the number of targets
        of a data-parallel global batch this one is a part of: the loss and gradients are then
        this part's share of the global mean (they sum to it over the ranks), and the mask may
        select nothing. Keeps d loss / d logits for backward()."""
        self._forward(idx, padding_mask)
        acts = self._acts
        targets = np.asarray(targets)
        if targets.shape != acts.shape:
            raise ValueError(f"targets has shape {targets.shape}; expected {acts.shape} like idx")
        if mask is None:
            self._check_ids("targets", targets)
            acts.targets[:] = targets.reshape(-1)
        else:
            mask = np.asarray(mask)
            if mask.shape != acts.shape:
                raise ValueError(f"mask has shape {mask.shape}; expected {acts.shape} like idx")
            counted = mask != 0
            if mean_count is None and not counted.any():
                raise ValueError("mask selects no target: at least one entry must be nonzero")
            self._check_ids("targets", targets[counted])
            np.copyto(acts.targets, np.where(counted, targets, IGNORE_INDEX).reshape(-1),
                      casting="unsafe")
        loss = crossentropy.crossentropy_forward_backward(
            acts.logits, acts.logits, acts.targets, ignore_index=IGNORE_INDEX,
            label_smoothing=self.config.label_smoothing, mean_count=mean_count)
        self._loss_ready = True
        return loss

    def backward(self, accumulate: bool = True) -> None:
        """Accumulate d loss / d parameter into grads (call loss() first).

        accumulate=False: write this batch's gradients into grads instead, whatever they held
        (zero_grad() + backward() in one go, without the pass that zeroes them).
        """
        self._require_float32("training (backward)")
        if not self._loss_ready:
            raise RuntimeError("backward() needs loss() first (forward() alone keeps no loss)")
        self._loss_ready = False
        t, acts = self.transformer, self._acts
        scratch = acts.scratch
        # acts.logits holds d loss / d logits (written in place by the cross-entropy);
        # scratch.dres becomes d loss / d the last block's output
        if t.ln_f is None:
            t.lm_head.backward(scratch.dres, acts.logits, acts.head_input, accumulate)
        else:
            t.lm_head.backward(scratch.dnorm, acts.logits, acts.head_input, accumulate)
            scratch.dres.fill(0.0)
            t.ln_f.backward(scratch.dres, scratch.dnorm, acts.top, acts.ln_f, scratch.layernorm,
                            accumulate)
        for block, block_acts in zip(reversed(t.h), reversed(acts.blocks)):
            block.backward(block_acts, scratch, self._key_mask, accumulate)
        # a tied lm head has just written (or added to) the token embedding's gradient
        t.wte.backward(scratch.dres, acts.idx, accumulate or self.config.tie_embeddings)
        t.wpe.backward(scratch.dres, acts.positions, accumulate)

    # ---------------------------------------------------------------- save / load

    def save(self, directory: str | os.PathLike, tokenizer=None) -> None:
        """Write the model directory: config.json, model.safetensors (GPT-2 tensor names) and,
        when given, the tokenizer's tokenizer.json (llm.model.directory)."""
        self._require_float32("save")
        model_directory.save(directory, self.config, dict(self.params.items()), tokenizer)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "GPT":
        """The model saved in directory by save()."""
        model = cls(model_directory.read_config(directory), init=False)
        model_directory.read_weights(directory, model.params)
        return model

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "GPT":
        """The model in a Hugging Face GPT-2 directory (config.json with model_type "gpt2", and
        model.safetensors or its shards with model.safetensors.index.json; F32, F16 or BF16
        weights), or in one of ours (then as load()). Each tensor is read straight into the
        parameter buffer: loading takes about the float32 weights' size in memory, not twice
        that. Dropout probabilities are ignored (our model has none); an option we do not
        implement is a ValueError naming it (llm.model.pretrained)."""
        if not pretrained.is_pretrained_directory(directory) and \
                (Path(directory) / model_directory.CONFIG_FILE).is_file():
            return cls.load(directory)
        config = pretrained.read_config(directory)
        model = cls(config, init=False)
        pretrained.read_weights(directory, model.params, config.tie_embeddings)
        return model

    def save_pretrained(self, directory: str | os.PathLike, tokenizer=None) -> None:
        """Write a Hugging Face GPT-2 directory, which
        transformers.AutoModelForCausalLM.from_pretrained(directory) loads as it is: config.json
        (GPT2Config's keys) and model.safetensors (float32, GPT2LMHeadModel's tensor names).
        tokenizer: also written there (tokenizer.save_pretrained, with model_max_length the
        block size), its end-of-text id becoming the config's bos and eos token ids. A
        post-norm model or one with sinusoidal positions is a ValueError (GPT-2 has neither)."""
        self._require_float32("save_pretrained")
        pretrained.save(directory, self.config, dict(self.params.items()), tokenizer)
