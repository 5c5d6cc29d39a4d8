"""The GPT model: forward, loss and backward through our C kernels.

Pre-norm block (GPT-2), with LN = LayerNorm:
    x = x + c_proj(attention(c_attn(LN_1(x))));  x = x + mlp_c_proj(act(mlp_c_fc(LN_2(x))))
and a final LN_f before the lm head. Post-norm block (the original Transformer):
    x = LN_1(x + c_proj(attention(c_attn(x))));  x = LN_2(x + mlp_c_proj(act(mlp_c_fc(x))))
with no final LayerNorm (the last block's output is already normalized).

Every tensor the backward pass reads is kept by the forward pass in buffers allocated once and
reused by every later call (`_Activations`, viewed from a `_BufferPool` that only grows). The backward pass walks the blocks in reverse with one
gradient buffer for the residual stream, `dres`, into which the LayerNorm and linear kernels
accumulate, so the residual connections cost no copies. Parameter gradients accumulate (+=) into
`grads` until `zero_grad()`, as in PyTorch, so micro-batches can be summed; `backward(accumulate=
False)` writes them instead, the zeroing pass and the reads of zeros saved.

Generation: forward_cached runs the same block code on the new positions only, its attention
step reading the earlier positions' keys and values from a KVCache (llm/model/kv_cache.py)
instead of recomputing them; generate / generate_stream (llm/model/generation.py) sample with it.
"""
import math
import os
from types import SimpleNamespace

import numpy as np

from llm._ext import activation, attention, crossentropy, embedding, layernorm, matmul
from llm.model import directory as model_directory
from llm.model import generation
from llm.model.config import GPTConfig
from llm.model.parameters import TensorBuffer, decay_mask, initialize, parameter_shapes
from llm.model.positional import position_ids, sinusoidal_table
from llm.model.sampling import SamplingConfig

IGNORE_INDEX = -1


LAYER_TENSORS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                 "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                 "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")


def _layer_views(buffer: TensorBuffer, layer: int) -> SimpleNamespace:
    """Block `layer`'s tensors by short name: ln_1.weight -> .ln_1_weight, attn.c_attn.weight ->
    .c_attn_weight, mlp.c_fc.bias -> .c_fc_bias, mlp.c_proj.weight -> .mlp_proj_weight."""
    short = {"attn.c_attn": "c_attn", "attn.c_proj": "attn_proj", "mlp.c_fc": "c_fc",
             "mlp.c_proj": "mlp_proj", "ln_1": "ln_1", "ln_2": "ln_2"}
    views = {}
    for name in LAYER_TENSORS:
        module, kind = name.rsplit(".", 1)
        views[f"{short[module]}_{kind}"] = buffer[f"h.{layer}.{name}"]
    return SimpleNamespace(**views)


class _BufferPool:
    """Named flat arrays that grow on demand and are viewed at the shape of the moment, so a
    smaller batch (an evaluation's last one, a shorter prompt) reuses the training batch's memory
    instead of allocating anew; a prefix of a C-contiguous array is C-contiguous."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        size = math.prod(shape)
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            self._arrays[name] = None  # release the old array before allocating its successor
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size].reshape(shape)


def _block_tensor_shapes(config: GPTConfig, B: int, T: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the float32 tensors one block's forward writes."""
    C, F, NH = config.d_model, config.d_ff, config.n_head
    return {"ln1": (B, T, C), "ln1_mean": (B, T), "ln1_rstd": (B, T),
            "qkv": (B, T, 3 * C),
            "attn": (B, T, C),                # attention output, before c_proj
            "attn_stats": (B, NH, T), "resid1": (B, T, C),
            "ln2": (B, T, C), "ln2_mean": (B, T), "ln2_rstd": (B, T),
            "fc": (B, T, F),                  # c_fc output, before the activation
            "fc_act": (B, T, F), "resid2": (B, T, C)}


class _Activations:
    """Forward tensors kept for backward, and backward scratch, for one (B, T).

    `layers[i]` holds block i's tensors; names follow the pre-norm reading of the block
    (resid1 = x + attention branch, resid2 = resid1 + MLP branch); post-norm normalizes each sum,
    ln1 = LN_1(resid1) and ln2 = LN_2(resid2) (the block output). Each kind of per-layer tensor is
    one array with a leading n_layer axis.
    """

    def __init__(self, config: GPTConfig, batch_size: int, seq_len: int, pool: _BufferPool):
        L, B, T = config.n_layer, batch_size, seq_len
        C, F, V = config.d_model, config.d_ff, config.vocab_size
        f32 = np.float32
        self.shape = (B, T)
        model_wide = {
            "idx": ((B, T), np.int32), "positions": ((B, T), np.int32),
            "key_mask": ((B, T), np.uint8), "targets": ((B * T,), np.int32),
            "embedded": ((B, T, C), f32),              # token + position: block 0's input
            "position_embedded": ((B, T, C), f32),
            "logits": ((B * T, V), f32),               # after loss(): d loss / d logits
            # backward scratch, shared by all blocks
            "dres": ((B, T, C), f32),                  # d loss / d residual stream
            "dnorm": ((B, T, C), f32), "dattn": ((B, T, C), f32), "dqkv": ((B, T, 3 * C), f32),
            "dfc": ((B, T, F), f32),                   # d act output, then d fc in place
        }
        if config.norm == "pre":                       # the final LayerNorm
            model_wide |= {"lnf": ((B, T, C), f32), "lnf_mean": ((B, T), f32),
                           "lnf_rstd": ((B, T), f32)}
        for name, (shape, dtype) in model_wide.items():
            setattr(self, name, pool.take(name, shape, dtype))
        stacked = {name: pool.take(name, (L,) + shape, f32)
                   for name, shape in _block_tensor_shapes(config, B, T).items()}
        self.layers = [SimpleNamespace(**{name: array[i] for name, array in stacked.items()})
                       for i in range(L)]
        # block i's input: the embedding, then each block's output
        outputs = [a.resid2 if config.norm == "pre" else a.ln2 for a in self.layers]
        self.block_inputs = [self.embedded] + outputs[:-1]
        self.top = outputs[-1]
        # the lm head's input, as (B*T, C) rows like logits
        self.head_input = (self.lnf if config.norm == "pre" else self.top).reshape(B * T, C)


class _CachedActivations:
    """Tensors of one forward_cached call for (B, T) new positions; nothing is kept for backward.

    Every block reuses the one set of block tensors `block`: its output (resid2 pre-norm, ln2
    post-norm) is the next block's input, which the block code reads before overwriting it. The
    lm head runs on the last position only: `last` (B, C) is its input, `logits` (B, V) its output.
    """

    def __init__(self, config: GPTConfig, batch_size: int, seq_len: int):
        B, T, C, V = batch_size, seq_len, config.d_model, config.vocab_size
        f32 = np.float32
        self.shape = (B, T)
        self.idx = np.empty((B, T), np.int32)
        self.positions = np.empty((B, T), np.int32)
        self.embedded = np.empty((B, T, C), f32)
        self.position_embedded = np.empty((B, T, C), f32)
        self.block = SimpleNamespace(**{name: np.empty(shape, f32) for name, shape
                                        in _block_tensor_shapes(config, B, T).items()})
        self.top = self.block.resid2 if config.norm == "pre" else self.block.ln2
        # the last position's rows: a view when T = 1, else a copy made by forward_cached
        self.last = self.top.reshape(B, C) if T == 1 else np.empty((B, C), f32)
        if config.norm == "pre":
            self.lnf = np.empty((B, C), f32)
            self.lnf_mean, self.lnf_rstd = np.empty(B, f32), np.empty(B, f32)
        self.head_input = self.lnf if config.norm == "pre" else self.last
        self.logits = np.empty((B, V), f32)


class GPT:
    """A GPT language model whose parameters live in one flat float32 buffer.

    params / grads: TensorBuffer with GPT-2 names, e.g. params["h.0.attn.c_attn.weight"] (C, 3C).
    """

    def __init__(self, config: GPTConfig):
        self.config = config
        self.params = TensorBuffer(parameter_shapes(config))
        self.grads = self.params.like()
        initialize(self.params, config)
        self._weights = [_layer_views(self.params, i) for i in range(config.n_layer)]
        self._weight_grads = [_layer_views(self.grads, i) for i in range(config.n_layer)]
        self._positional_table = (self.params["wpe.weight"] if config.positional == "learned"
                                  else sinusoidal_table(config.block_size, config.d_model))
        head = "wte.weight" if config.tie_embeddings else "lm_head.weight"
        self._head_weight, self._head_grad = self.params[head], self.grads[head]
        self._buffers = _BufferPool()
        self._acts: _Activations | None = None
        self._key_mask = None          # the last forward's attention key mask, or None
        self._loss_ready = False       # loss() ran since the last forward: backward() may run

    # ---------------------------------------------------------------- public API

    @property
    def num_parameters(self) -> int:
        return self.params.size

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

        if len(tokens) != self.config.vocab_size:
            raise ValueError(f"{len(tokens)} tokens given for a vocabulary of "
                             f"{self.config.vocab_size}; pass every token string in id order")
        _, missing = init_embedding_table(tokens, vectors, self.config.d_model,
                                          np.random.default_rng(self.config.seed),
                                          rescale=rescale, out=self.params["wte.weight"])
        return missing

    def zero_grad(self) -> None:
        self.grads.flat.fill(0.0)

    def forward(self, idx: np.ndarray, padding_mask: np.ndarray | None = None) -> np.ndarray:
        """Logits (B, T, vocab_size) float32 (a new array) for token ids idx (B, T) int.

        padding_mask: (B, T), nonzero = real token, 0 = padding (left padding): padded keys are
        invisible to attention and positions count from each row's first real token.
        """
        self._forward(idx, padding_mask)
        return self._acts.logits.reshape(*self._acts.shape, -1).copy()

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
            acts = cache.activations = _CachedActivations(self.config, B, T)
        cache.begin(T, padding_mask, acts.positions)
        acts.idx[...] = idx
        addend = self._embed(acts)
        block_forward = self._block_forward_pre if self.config.norm == "pre" else \
            self._block_forward_post
        x, attend = acts.embedded, cache.attend
        for layer in range(self.config.n_layer):
            addend = block_forward(layer, acts.block, x, addend, attend)
            x = acts.top
        if addend is not None:
            acts.top += addend
        if T > 1:
            acts.last[...] = acts.top[:, -1]
        self._head_forward(acts, acts.last, None)
        cache.commit()
        return acts.logits

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

    def loss(self, idx: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None,
             padding_mask: np.ndarray | None = None) -> float:
        """Mean cross-entropy (with the config's label smoothing) of targets (B, T) int given
        idx (B, T) and padding_mask (as forward); mask (B, T), nonzero = this target counts
        (e.g. not padding, or an assistant turn in a chat; targets elsewhere are not read).
        Keeps d loss / d logits for backward()."""
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
            if not counted.any():
                raise ValueError("mask selects no target: at least one entry must be nonzero")
            self._check_ids("targets", targets[counted])
            np.copyto(acts.targets, np.where(counted, targets, IGNORE_INDEX).reshape(-1),
                      casting="unsafe")
        loss = crossentropy.crossentropy_forward_backward(
            acts.logits, acts.logits, acts.targets, ignore_index=IGNORE_INDEX,
            label_smoothing=self.config.label_smoothing)
        self._loss_ready = True
        return loss

    def backward(self, accumulate: bool = True) -> None:
        """Accumulate d loss / d parameter into grads (call loss() first).

        accumulate=False: write this batch's gradients into grads instead, whatever they held
        (zero_grad() + backward() in one go, without the pass that zeroes them).
        """
        if not self._loss_ready:
            raise RuntimeError("backward() needs loss() first (forward() alone keeps no loss)")
        self._loss_ready = False
        cfg, acts = self.config, self._acts
        # acts.logits holds d loss / d logits (written in place by the cross-entropy)
        if cfg.norm == "pre":
            self._linear_backward(acts.dnorm, acts.logits, acts.head_input, self._head_weight,
                                  self._head_grad, None, accumulate, transpose_weight=True)
            acts.dres.fill(0.0)
            layernorm.layernorm_backward(acts.dres, self.grads["ln_f.weight"],
                                         self.grads["ln_f.bias"], acts.dnorm, acts.top,
                                         self.params["ln_f.weight"], acts.lnf_mean, acts.lnf_rstd,
                                         accumulate_weights=accumulate)
        else:
            self._linear_backward(acts.dres, acts.logits, acts.head_input, self._head_weight,
                                  self._head_grad, None, accumulate, transpose_weight=True)
        block_backward = self._block_backward_pre if cfg.norm == "pre" else \
            self._block_backward_post
        for layer in reversed(range(cfg.n_layer)):
            block_backward(layer, accumulate)
        # The embeddings' gradients are sums over token occurrences: they start from zero unless
        # accumulating, or unless the tied lm head has just written the token embedding's.
        if not (accumulate or cfg.tie_embeddings):
            self.grads["wte.weight"].fill(0.0)
        embedding.embedding_backward(self.grads["wte.weight"], acts.dres, acts.idx)
        if cfg.positional == "learned":
            if not accumulate:
                self.grads["wpe.weight"].fill(0.0)
            embedding.embedding_backward(self.grads["wpe.weight"], acts.dres, acts.positions)

    # ---------------------------------------------------------------- save / load

    def save(self, directory: str | os.PathLike, tokenizer=None) -> None:
        """Write the model directory: config.json, model.safetensors (GPT-2 tensor names) and,
        when given, the tokenizer's tokenizer.json (llm.model.directory)."""
        model_directory.save(directory, self.config, dict(self.params.items()), tokenizer)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "GPT":
        """The model saved in directory by save()."""
        model = cls(model_directory.read_config(directory))
        model_directory.read_weights(directory, model.params)
        return model

    # ---------------------------------------------------------------- forward internals

    def _check_ids(self, name: str, ids: np.ndarray) -> None:
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} has dtype {ids.dtype}; expected integer token ids")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"{name} holds ids in [{ids.min()}, {ids.max()}], outside the "
                             f"vocabulary [0, {self.config.vocab_size})")

    def _activations(self, batch_size: int, seq_len: int) -> _Activations:
        if self._acts is None or self._acts.shape != (batch_size, seq_len):
            self._acts = _Activations(self.config, batch_size, seq_len, self._buffers)
        return self._acts

    def _forward(self, idx: np.ndarray, padding_mask: np.ndarray | None) -> None:
        cfg = self.config
        idx = np.asarray(idx)
        if idx.ndim != 2:
            raise ValueError(f"idx has shape {idx.shape}; expected (B, T) token ids")
        B, T = idx.shape
        if not 1 <= T <= cfg.block_size:
            raise ValueError(f"sequence length T={T} must be in [1, block_size={cfg.block_size}]")
        self._check_ids("idx", idx)
        acts = self._activations(B, T)
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

        addend = self._embed(acts)
        block_forward = self._block_forward_pre if cfg.norm == "pre" else self._block_forward_post
        for layer in range(cfg.n_layer):
            addend = block_forward(layer, acts.layers[layer], acts.block_inputs[layer], addend,
                                   self._attend)
        self._head_forward(acts, acts.top, addend)

    # A residual connection's sum x += addend is left pending where a LayerNorm reads x next:
    # that LayerNorm adds the addend in place as it normalizes (one pass over the rows instead of
    # two), and backward finds every sum complete. The forward methods below take the addend
    # still due on their input (None: the input is complete) and return the one due on their
    # output.

    def _embed(self, acts):
        """acts.embedded = token embedding of acts.idx, plus the positional encoding of
        acts.positions, acts.position_embedded, which is returned: the addend due on it."""
        embedding.embedding_forward(acts.embedded, acts.idx, self.params["wte.weight"])
        embedding.embedding_forward(acts.position_embedded, acts.positions,
                                    self._positional_table)
        return acts.position_embedded

    def _head_forward(self, acts, x, x_addend) -> None:
        """acts.logits = lm_head(LN_f(x + x_addend)) pre-norm (the sum completed into x, LN_f of
        it kept in acts.lnf), lm_head(x) post-norm (whose blocks leave no addend);
        acts.head_input is the head's input viewed as rows."""
        if self.config.norm == "pre":
            layernorm.layernorm_forward(acts.lnf, acts.lnf_mean, acts.lnf_rstd, x,
                                        self.params["ln_f.weight"], self.params["ln_f.bias"],
                                        residual=x_addend)
        matmul.matmul_forward(acts.logits, acts.head_input, self._head_weight,
                              transpose_weight=True)

    def _activation_forward(self, out, x):
        if self.config.activation == "gelu":
            activation.gelu_forward(out, x)
        else:
            activation.relu_forward(out, x)

    def _activation_backward(self, grad, x, out):
        """grad: d act(x) on entry, d x on exit (in place); out = act(x) from the forward."""
        backward = activation.gelu_backward if self.config.activation == "gelu" else \
            activation.relu_backward
        backward(grad, grad, x, out)

    def _block_forward_pre(self, layer: int, a, x, x_addend, attend):
        """Block `layer` on input x + x_addend, writing its tensors into a; attend as in
        _attention_forward. The output is a.resid2 + a.resid1: returns a.resid1, its addend."""
        w = self._weights[layer]
        layernorm.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, w.ln_1_weight, w.ln_1_bias,
                                    residual=x_addend)
        self._attention_forward(layer, a, w, a.ln1, a.resid1, attend)
        layernorm.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.resid1, w.ln_2_weight,
                                    w.ln_2_bias, residual=x)
        self._mlp_forward(a, w, a.ln2, out=a.resid2)
        return a.resid1

    def _block_forward_post(self, layer: int, a, x, x_addend, attend):
        """As _block_forward_pre, the post-norm block: its output a.ln2 is complete, so it
        returns None (no addend due)."""
        w = self._weights[layer]
        if x_addend is not None:    # attention reads x first: no LayerNorm to complete it
            x += x_addend
        self._attention_forward(layer, a, w, x, a.resid1, attend)
        layernorm.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.resid1, w.ln_1_weight,
                                    w.ln_1_bias, residual=x)
        self._mlp_forward(a, w, a.ln1, out=a.resid2)
        layernorm.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.resid2, w.ln_2_weight,
                                    w.ln_2_bias, residual=a.ln1)

    def _attention_forward(self, layer: int, a, w, x, out, attend) -> None:
        """out = c_proj(attention(c_attn(x))), keeping qkv and attn in a. attend(layer, a)
        computes a.attn from a.qkv: _attend over the whole sequence in training, a KVCache's
        attend over the cached positions in forward_cached."""
        matmul.matmul_forward(a.qkv, x, w.c_attn_weight, w.c_attn_bias)
        attend(layer, a)
        matmul.matmul_forward(out, a.attn, w.attn_proj_weight, w.attn_proj_bias)

    def _attend(self, layer: int, a) -> None:
        """a.attn = causal attention of a.qkv over the whole sequence, keeping a.attn_stats."""
        attention.attention_forward(a.attn, a.attn_stats, a.qkv, self.config.n_head,
                                    self._key_mask)

    def _mlp_forward(self, a, w, x, out) -> None:
        """out = mlp_c_proj(act(c_fc(x))), keeping fc and fc_act in a."""
        matmul.matmul_forward(a.fc, x, w.c_fc_weight, w.c_fc_bias)
        self._activation_forward(a.fc_act, a.fc)
        matmul.matmul_forward(out, a.fc_act, w.mlp_proj_weight, w.mlp_proj_bias)

    # ---------------------------------------------------------------- backward internals

    @staticmethod
    def _linear_backward(dinp, dout, inp, weight, dweight, dbias, accumulate,
                         transpose_weight=False):
        """dinp = dout @ op(weight)ᵀ (written, not accumulated: no zeroing pass needed);
        dweight, dbias += as matmul_backward (written when not accumulate)."""
        matmul.gemm(dinp.reshape(-1, dinp.shape[-1]), dout.reshape(-1, dout.shape[-1]), weight,
                    trans_b=not transpose_weight)
        matmul.matmul_backward(None, dweight, dbias, dout, inp, weight, transpose_weight,
                               accumulate_weights=accumulate)

    def _attention_backward(self, a, w, g, dout, x, dx, accumulate_dx: bool,
                            accumulate: bool) -> None:
        """Gradients of out = c_proj(attention(c_attn(x))) given dout: into g's weights (added,
        or written when not accumulate), and into dx (written, or added to it when
        accumulate_dx)."""
        acts = self._acts
        self._linear_backward(acts.dattn, dout, a.attn, w.attn_proj_weight, g.attn_proj_weight,
                              g.attn_proj_bias, accumulate)
        attention.attention_backward(acts.dqkv, acts.dattn, a.qkv, a.attn, a.attn_stats,
                                     self.config.n_head, self._key_mask)
        if accumulate_dx:
            matmul.matmul_backward(dx, g.c_attn_weight, g.c_attn_bias, acts.dqkv, x,
                                   w.c_attn_weight, accumulate_weights=accumulate)
        else:
            self._linear_backward(dx, acts.dqkv, x, w.c_attn_weight, g.c_attn_weight,
                                  g.c_attn_bias, accumulate)

    def _mlp_backward(self, a, w, g, dout, x, dx, accumulate_dx: bool, accumulate: bool) -> None:
        """Gradients of out = mlp_c_proj(act(c_fc(x))) given dout, as _attention_backward."""
        acts = self._acts
        self._linear_backward(acts.dfc, dout, a.fc_act, w.mlp_proj_weight,
                              g.mlp_proj_weight, g.mlp_proj_bias, accumulate)
        self._activation_backward(acts.dfc, a.fc, a.fc_act)
        if accumulate_dx:
            matmul.matmul_backward(dx, g.c_fc_weight, g.c_fc_bias, acts.dfc, x, w.c_fc_weight,
                                   accumulate_weights=accumulate)
        else:
            self._linear_backward(dx, acts.dfc, x, w.c_fc_weight, g.c_fc_weight, g.c_fc_bias,
                                  accumulate)

    def _block_backward_pre(self, layer: int, accumulate: bool) -> None:
        """acts.dres: d loss / d resid2 on entry, d loss / d block input on exit. Each branch's
        input gradient lands in dnorm; LayerNorm's backward adds it to dres (the residual).
        The block's parameter gradients are added (written when not accumulate)."""
        acts = self._acts
        a, w, g = acts.layers[layer], self._weights[layer], self._weight_grads[layer]
        dres, dnorm = acts.dres, acts.dnorm
        self._mlp_backward(a, w, g, dres, a.ln2, dnorm, False, accumulate)
        layernorm.layernorm_backward(dres, g.ln_2_weight, g.ln_2_bias, dnorm, a.resid1,
                                     w.ln_2_weight, a.ln2_mean, a.ln2_rstd,
                                     accumulate_weights=accumulate)
        self._attention_backward(a, w, g, dres, a.ln1, dnorm, False, accumulate)
        layernorm.layernorm_backward(dres, g.ln_1_weight, g.ln_1_bias, dnorm,
                                     acts.block_inputs[layer], w.ln_1_weight, a.ln1_mean,
                                     a.ln1_rstd, accumulate_weights=accumulate)

    def _block_backward_post(self, layer: int, accumulate: bool) -> None:
        """acts.dres: d loss / d ln2 (the block output) on entry, d loss / d block input on exit.
        dnorm holds the gradient of each sum before its LayerNorm; each branch adds its input
        gradient to the residual's. Parameter gradients as _block_backward_pre."""
        acts = self._acts
        a, w, g = acts.layers[layer], self._weights[layer], self._weight_grads[layer]
        dres, dsum = acts.dres, acts.dnorm
        dsum.fill(0.0)
        layernorm.layernorm_backward(dsum, g.ln_2_weight, g.ln_2_bias, dres, a.resid2,
                                     w.ln_2_weight, a.ln2_mean, a.ln2_rstd,
                                     accumulate_weights=accumulate)
        self._mlp_backward(a, w, g, dsum, a.ln1, dsum, True, accumulate)   # dsum: d ln1
        dres.fill(0.0)
        layernorm.layernorm_backward(dres, g.ln_1_weight, g.ln_1_bias, dsum, a.resid1,
                                     w.ln_1_weight, a.ln1_mean, a.ln1_rstd,
                                     accumulate_weights=accumulate)
        self._attention_backward(a, w, g, dres, acts.block_inputs[layer], dres, True,
                                 accumulate)
