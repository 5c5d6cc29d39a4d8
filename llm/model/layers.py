"""The GPT's layers, each holding views into the flat parameter and gradient buffers.

A layer declares its parameter tensors once, in __init__ (`shapes`); its sublayers are the Layer
attributes it assigns, in that order, as PyTorch's modules (a list of them is numbered: h.0,
h.1, ...). `parameter_shapes()` walks this tree for the buffer layout under GPT-2's names, and
`bind()` then gives each tensor its two views: the parameter as `self.<name>`, its gradient as
`self.d<name>`.

A layer's forward tensors are not kept in the layer: `activations()` takes them from a BufferPool
for one (B, T) and forward writes into them; backward reads them. The model keeps one set per
block for training, while a KV cache keeps one set shared by every block for generation, so
generating never overwrites what a pending backward needs. Every backward adds into the
parameter gradients, or writes them when accumulate=False (the zeroing pass saved).

For inference, a Linear's or an Embedding's weight can be stored in 16 bits (weight_to_half):
it then leaves the layer's shapes (and so the float32 buffer's layout) and its forward widens it
as it reads it; such a layer has no backward.
"""
import math
from collections.abc import Mapping
from types import MappingProxyType, SimpleNamespace
from typing import NamedTuple

import numpy as np

from llm._ext import activation, attention, embedding, half, layernorm, matmul
from llm.model.config import GPTConfig
from llm.model.positional import sinusoidal_table


class BufferPool:
    """Named flat arrays that grow on demand and are viewed at the shape of the moment, so a
    smaller batch (an evaluation's last one, a shorter prompt) reuses the training batch's memory
    instead of allocating anew; a prefix of a C-contiguous array is C-contiguous."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        size = math.prod(shape)
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            self._arrays[name] = None  # release the old array before allocating its successor
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size].reshape(shape)


def take_all(pool: BufferPool, prefix: str, **shapes) -> SimpleNamespace:
    """A namespace of float32 arrays taken from pool, one per keyword (name=shape)."""
    return SimpleNamespace(**{name: pool.take(prefix + name, shape)
                              for name, shape in shapes.items()})


class ResidualSum(NamedTuple):
    """x + addend, a residual connection's sum with the addition not yet done (addend None: x
    is the sum). The LayerNorm that reads the sum next adds addend into x in place as it
    normalizes (LayerNorm.forward(a, x, addend)), one pass over the rows instead of two;
    afterwards x holds the sum, as backward expects. Made once per set of activations, not per
    call (a NamedTuple costs about a microsecond to make)."""
    x: np.ndarray
    addend: np.ndarray | None = None

    def complete(self) -> np.ndarray:
        """x, the addition done (for a reader that is not a LayerNorm)."""
        if self.addend is not None:
            np.add(self.x, self.addend, out=self.x)
        return self.x


class Layer:
    """Parameter declaration and binding, shared by every layer (see the module docstring)."""

    # the layer's own tensors, name -> shape (a layer with none keeps this empty default)
    shapes: Mapping[str, tuple[int, ...]] = MappingProxyType({})

    def sublayers(self):
        """(name, layer) of each sublayer, in the order assigned."""
        for name, value in vars(self).items():
            if isinstance(value, Layer):
                yield name, value
            elif isinstance(value, list):
                yield from ((f"{name}.{i}", layer) for i, layer in enumerate(value))

    def parameter_shapes(self, prefix: str = "") -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every tensor of the layer and its sublayers, in buffer order."""
        shapes = [(prefix + name, shape) for name, shape in self.shapes.items()]
        for name, layer in self.sublayers():
            shapes += layer.parameter_shapes(f"{prefix}{name}.")
        return shapes

    def layers(self):
        """This layer and every layer below it, depth first in the order assigned."""
        yield self
        for _, layer in self.sublayers():
            yield from layer.layers()

    def bind(self, params, grads, prefix: str = "") -> None:
        """Take the views of this layer's tensors (and its sublayers') from the params and grads
        TensorBuffers (llm/model/parameters.py)."""
        for name in self.shapes:
            setattr(self, name, params[prefix + name])
            setattr(self, "d" + name, grads[prefix + name])
        for name, layer in self.sublayers():
            layer.bind(params, grads, f"{prefix}{name}.")


class HalfWeight:
    """A layer whose weight may be stored in 16 bits for inference (Linear, Embedding)."""

    # "f32", or "bf16" / "f16": weight is then a uint16 array of those bits
    weight_dtype = "f32"

    def weight_to_half(self, kind: str) -> None:
        """Replace the float32 weight by its kind ("bf16" or "f16") bits, rounded to nearest
        even: a new uint16 array (the float32 one is no longer referenced by the layer), which
        leaves the layer's shapes, so the float32 buffer's layout no longer holds it. No
        gradient any more (dweight None): inference only."""
        bits = half.to_half(np.empty(self.weight.shape, np.uint16), self.weight, kind)
        self.weight, self.dweight, self.weight_dtype = bits, None, kind
        self.shapes = {name: shape for name, shape in self.shapes.items() if name != "weight"}


class Embedding(HalfWeight, Layer):
    """out[b, t] = weight[ids[b, t]], weight (rows, C) float32 (or 16-bit, weight_to_half): a
    trained table, or a fixed one (the sinusoidal positions), which is no parameter."""

    def __init__(self, rows: int, C: int, fixed: np.ndarray | None = None):
        self.trained = fixed is None
        if self.trained:
            self.shapes = {"weight": (rows, C)}
        else:
            self.weight = fixed

    def forward(self, out: np.ndarray, ids: np.ndarray) -> None:
        """out: (B, T, C) float32; ids: (B, T) int32."""
        embedding.embedding_forward(out, ids, self.weight, self.weight_dtype)

    def backward(self, dout: np.ndarray, ids: np.ndarray, accumulate: bool) -> None:
        """dweight += the rows of dout (B, T, C) at ids (B, T); a fixed table has none."""
        if self.trained:
            if not accumulate:      # a sum over token occurrences: start it from zero
                self.dweight.fill(0.0)
            embedding.embedding_backward(self.dweight, dout, ids)


class LayerNorm(Layer):
    """LayerNorm over the last dimension, C channels: weight (C,), bias (C,); eps is added to
    the variance."""

    def __init__(self, C: int, eps: float = 1e-5):
        self.shapes = {"weight": (C,), "bias": (C,)}
        self.eps = eps

    @staticmethod
    def activations(pool: BufferPool, prefix: str, shape: tuple[int, ...]) -> SimpleNamespace:
        """out shape (..., C) float32, the normalized rows; mean and rstd shape[:-1] float32."""
        return take_all(pool, prefix, out=shape, mean=shape[:-1], rstd=shape[:-1])

    def forward(self, a: SimpleNamespace, x: np.ndarray, residual=None) -> None:
        """a.out = LayerNorm(x + residual) for x (..., C) float32; the sum is written into x
        (residual: None, or like x; a ResidualSum's addend)."""
        layernorm.layernorm_forward(a.out, a.mean, a.rstd, x, self.weight, self.bias,
                                    eps=self.eps, residual=residual)

    def backward(self, dx, dout, x, a: SimpleNamespace, scratch, accumulate: bool) -> None:
        """dx += d loss / d x given dout, both like x (the forward's completed input); scratch:
        float32 of layernorm.backward_scratch_size(rows, C) elements."""
        layernorm.layernorm_backward(dx, self.dweight, self.dbias, dout, x, self.weight, a.mean,
                                     a.rstd, scratch, accumulate_weights=accumulate)


class Linear(HalfWeight, Layer):
    """out = x @ weight + bias, weight (n_in, n_out) as GPT-2's Conv1D; transpose_weight: weight
    (n_out, n_in), out = x @ weightᵀ (the lm head, which has no bias). weight is float32, or
    16-bit for inference (weight_to_half)."""

    def __init__(self, n_in: int, n_out: int, bias: bool = True,
                 transpose_weight: bool = False):
        self.shapes = {"weight": (n_out, n_in) if transpose_weight else (n_in, n_out)}
        if bias:
            self.shapes["bias"] = (n_out,)
        else:
            self.bias = self.dbias = None
        self.transpose_weight = transpose_weight

    def forward(self, out: np.ndarray, x: np.ndarray) -> None:
        """out: (..., n_out) float32 for x (..., n_in)."""
        matmul.matmul_forward(out, x, self.weight, self.bias,
                              transpose_weight=self.transpose_weight, kind=self.weight_dtype)

    def backward(self, dx, dout, x, accumulate: bool, accumulate_dx: bool = False) -> None:
        """dx = dout @ op(weight)ᵀ (written; added when accumulate_dx), dweight and dbias +=
        as matmul_backward (written when not accumulate)."""
        if accumulate_dx:
            matmul.matmul_backward(dx, self.dweight, self.dbias, dout, x, self.weight,
                                   self.transpose_weight, accumulate_weights=accumulate)
            return
        # written by a plain product: no zeroing pass over dx needed
        matmul.gemm(dx.reshape(-1, dx.shape[-1]), dout.reshape(-1, dout.shape[-1]), self.weight,
                    trans_b=not self.transpose_weight)
        matmul.matmul_backward(None, self.dweight, self.dbias, dout, x, self.weight,
                               self.transpose_weight, accumulate_weights=accumulate)


class CausalSelfAttention(Layer):
    """out = c_proj(attention(c_attn(x))): c_attn (C, 3C) makes the queries, keys and values,
    n_head heads attend causally, c_proj (C, C) mixes the heads."""

    def __init__(self, config: GPTConfig, layer: int):
        C = config.d_model
        self.c_attn = Linear(C, 3 * C)
        self.c_proj = Linear(C, C)
        self.n_head = config.n_head
        self.layer = layer          # which of a KV cache's layers holds this one's keys, values

    @staticmethod
    def activations(pool: BufferPool, prefix: str, config: GPTConfig, B: int, T: int):
        """qkv (B, T, 3C), attn (B, T, C) (attention's output, before c_proj) and the attention
        row statistics stats (B, n_head, T), float32."""
        C = config.d_model
        return take_all(pool, prefix, qkv=(B, T, 3 * C), attn=(B, T, C),
                        stats=(B, config.n_head, T))

    def forward(self, a: SimpleNamespace, x, out, key_mask, cache=None) -> None:
        """out (B, T, C) for x (B, T, C). key_mask: (B, T) uint8, 0 = a padding key, or None.
        cache: None (attend over the whole sequence), or a KVCache whose attend() reads the
        earlier positions' keys and values and appends these."""
        self.c_attn.forward(a.qkv, x)
        if cache is None:
            attention.attention_forward(a.attn, a.stats, a.qkv, self.n_head, key_mask)
        else:
            cache.attend(self.layer, a)
        self.c_proj.forward(out, a.attn)

    def backward(self, a, dout, x, dx, scratch, key_mask, accumulate: bool,
                 accumulate_dx: bool) -> None:
        """dx = d loss / d x (added when accumulate_dx) given dout; scratch: dattn (B, T, C) and
        dqkv (B, T, 3C) float32."""
        self.c_proj.backward(scratch.dattn, dout, a.attn, accumulate)
        attention.attention_backward(scratch.dqkv, scratch.dattn, a.qkv, a.attn, a.stats,
                                     self.n_head, key_mask)
        self.c_attn.backward(dx, scratch.dqkv, x, accumulate, accumulate_dx)


class MLP(Layer):
    """out = c_proj(act(c_fc(x))): c_fc (C, F), act GELU (tanh approximation) or ReLU, c_proj
    (F, C)."""

    def __init__(self, config: GPTConfig):
        C, F = config.d_model, config.d_ff
        self.c_fc = Linear(C, F)
        self.c_proj = Linear(F, C)
        gelu = config.activation == "gelu"
        self._act_forward = activation.gelu_forward if gelu else activation.relu_forward
        self._act_backward = activation.gelu_backward if gelu else activation.relu_backward

    @staticmethod
    def activations(pool: BufferPool, prefix: str, config: GPTConfig, B: int, T: int):
        """fc (B, T, F) (c_fc's output) and act (B, T, F) (the activation's), float32."""
        F = config.d_ff
        return take_all(pool, prefix, fc=(B, T, F), act=(B, T, F))

    def forward(self, a: SimpleNamespace, x, out) -> None:
        """out (B, T, C) for x (B, T, C)."""
        self.c_fc.forward(a.fc, x)
        self._act_forward(a.act, a.fc)
        self.c_proj.forward(out, a.act)

    def backward(self, a, dout, x, dx, scratch, accumulate: bool, accumulate_dx: bool) -> None:
        """dx = d loss / d x (added when accumulate_dx) given dout; scratch: dfc (B, T, F)
        float32, d act's output, then d fc in place."""
        self.c_proj.backward(scratch.dfc, dout, a.act, accumulate)
        self._act_backward(scratch.dfc, scratch.dfc, a.fc, a.act)
        self.c_fc.backward(dx, scratch.dfc, x, accumulate, accumulate_dx)


class Block(Layer):
    """A transformer block. Pre-norm (GPT-2), with LN = LayerNorm:
        resid1 = x + attn(LN_1(x));  out = resid1 + mlp(LN_2(resid1))
    post-norm (the original Transformer):
        ln_1 = LN_1(x + attn(x));  out = LN_2(ln_1 + mlp(ln_1))

    The residual sums are fused into the LayerNorms (ResidualSum): a pre-norm block hands its
    output on as resid2 + resid1 for the next LayerNorm to add, and takes its input the same way.
    """

    def __init__(self, config: GPTConfig, layer: int):
        C = config.d_model
        self.ln_1 = LayerNorm(C, config.layer_norm_eps)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = LayerNorm(C, config.layer_norm_eps)
        self.mlp = MLP(config)
        self.pre_norm = config.norm == "pre"

    @staticmethod
    def activations(pool: BufferPool, prefix: str, config: GPTConfig, B: int, T: int):
        """The block's forward tensors, float32: ln_1, attn, ln_2, mlp as those layers'
        activations(); resid1 (B, T, C), the attention branch's sum, and resid2 (B, T, C), the
        MLP branch's (pre-norm: its output, before resid1 is added; post-norm: its sum);
        output, the block's output as a ResidualSum. forward() sets input, the block's input
        (B, T, C) as completed."""
        shape = (B, T, config.d_model)
        a = SimpleNamespace(
            ln_1=LayerNorm.activations(pool, prefix + "ln_1.", shape),
            attn=CausalSelfAttention.activations(pool, prefix + "attn.", config, B, T),
            ln_2=LayerNorm.activations(pool, prefix + "ln_2.", shape),
            mlp=MLP.activations(pool, prefix + "mlp.", config, B, T),
            resid1=pool.take(prefix + "resid1", shape), resid2=pool.take(prefix + "resid2", shape),
            input=None)
        a.output = ResidualSum(a.resid2, a.resid1) if config.norm == "pre" else \
            ResidualSum(a.ln_2.out)
        return a

    @staticmethod
    def backward_scratch(pool: BufferPool, config: GPTConfig, B: int, T: int):
        """Backward's scratch, float32, shared by every block: dres (B, T, C), the gradient of
        the residual stream; dnorm (B, T, C); dattn, dqkv as CausalSelfAttention.backward's;
        dfc as MLP.backward's; layernorm, LayerNorm.backward's over B * T rows."""
        C = config.d_model
        return take_all(pool, "backward.", dres=(B, T, C), dnorm=(B, T, C), dattn=(B, T, C),
                        dqkv=(B, T, 3 * C), dfc=(B, T, config.d_ff),
                        layernorm=(layernorm.backward_scratch_size(B * T, C),))

    def forward(self, a: SimpleNamespace, x: ResidualSum, key_mask, cache=None) -> ResidualSum:
        """The block's output for input x (both (B, T, C) float32), writing its tensors into a
        (from activations()); key_mask and cache as CausalSelfAttention.forward."""
        if self.pre_norm:
            self.ln_1.forward(a.ln_1, x.x, x.addend)
            a.input = x.x
            self.attn.forward(a.attn, a.ln_1.out, a.resid1, key_mask, cache)
            self.ln_2.forward(a.ln_2, a.resid1, a.input)       # resid1 = input + attention
            self.mlp.forward(a.mlp, a.ln_2.out, a.resid2)
            return a.output                                    # resid2 + resid1, pending
        a.input = x.complete()      # attention reads x first: no LayerNorm to add the addend
        self.attn.forward(a.attn, a.input, a.resid1, key_mask, cache)
        self.ln_1.forward(a.ln_1, a.resid1, a.input)
        self.mlp.forward(a.mlp, a.ln_1.out, a.resid2)
        self.ln_2.forward(a.ln_2, a.resid2, a.ln_1.out)
        return a.output                                        # ln_2.out

    def backward(self, a: SimpleNamespace, scratch: SimpleNamespace, key_mask,
                 accumulate: bool) -> None:
        """scratch.dres (B, T, C): d loss / d output on entry, d loss / d input on exit; the
        other scratch arrays as the sublayers' backward, and dnorm (B, T, C)."""
        dres, dnorm, ln_scratch = scratch.dres, scratch.dnorm, scratch.layernorm
        if self.pre_norm:
            # each branch's input gradient lands in dnorm; LayerNorm's backward adds it to dres
            self.mlp.backward(a.mlp, dres, a.ln_2.out, dnorm, scratch, accumulate, False)
            self.ln_2.backward(dres, dnorm, a.resid1, a.ln_2, ln_scratch, accumulate)
            self.attn.backward(a.attn, dres, a.ln_1.out, dnorm, scratch, key_mask, accumulate,
                               False)
            self.ln_1.backward(dres, dnorm, a.input, a.ln_1, ln_scratch, accumulate)
            return
        # dnorm holds the gradient of each sum before its LayerNorm; each branch adds its input
        # gradient to the residual's
        dnorm.fill(0.0)
        self.ln_2.backward(dnorm, dres, a.resid2, a.ln_2, ln_scratch, accumulate)
        self.mlp.backward(a.mlp, dnorm, a.ln_1.out, dnorm, scratch, accumulate, True)
        dres.fill(0.0)
        self.ln_1.backward(dres, dnorm, a.resid1, a.ln_1, ln_scratch, accumulate)
        self.attn.backward(a.attn, dres, a.input, dres, scratch, key_mask, accumulate, True)


class GPTLayers(Layer):
    """Every layer of a GPT, named as GPT-2's tensors: wte (token embedding), wpe (positions),
    h (the blocks), ln_f (the final LayerNorm, pre-norm only: a post-norm block's output is
    already normalized), lm_head (its own matrix unless tied to wte). It lives here, not in
    gpt.py, so that parameters.parameter_shapes derives the buffer layout from it without
    importing the model."""

    def __init__(self, config: GPTConfig):
        C, V = config.d_model, config.vocab_size
        self.wte = Embedding(V, C)
        self.wpe = Embedding(config.block_size, C) if config.positional == "learned" else \
            Embedding(config.block_size, C, fixed=sinusoidal_table(config.block_size, C))
        self.h = [Block(config, layer) for layer in range(config.n_layer)]
        self.ln_f = LayerNorm(C, config.layer_norm_eps) if config.norm == "pre" else None
        self.lm_head = Linear(C, V, bias=False, transpose_weight=True)
        self.tied = config.tie_embeddings
        if self.tied:       # the head's weight is wte's: no tensor of its own
            self.lm_head.shapes = {}

    def bind(self, params, grads, prefix: str = "") -> None:
        super().bind(params, grads, prefix)
        if self.tied:
            self.lm_head.weight, self.lm_head.dweight = self.wte.weight, self.wte.dweight
            self.lm_head.weight_dtype = self.wte.weight_dtype
