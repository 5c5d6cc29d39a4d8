"""Write a GGUF file of our GPT-2-layout model for llama.cpp (the `gguf` package, a peer:
`pip install gguf`), as llama.cpp's convert_hf_to_gguf.py writes GPT-2: architecture "gpt2",
linear weights transposed to PyTorch's (out, in), 1-D tensors in float32, matrices in float32 or
float16, and a "gpt2" BPE vocabulary padded with unused tokens to the model's vocab_size (the
benchmarks feed token ids, so the vocabulary only has to be well-formed)."""
import os

import numpy as np

from llm.model import GPT
from llm.tokenizer import Tokenizer
from llm.tokenizer.byte_level import shown

# our name (after "h.N.") -> llama.cpp's (after "blk.N."), and whether GPT-2's Conv1D (in, out)
# weight is transposed to (out, in)
BLOCK_TENSORS = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
                 "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
FILE_TYPES = {"f32": 0, "f16": 1}


def gguf_name(name: str) -> str:
    """llama.cpp's tensor name for one of ours (h.3.attn.c_attn.weight -> blk.3.attn_qkv.weight)."""
    top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
           "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias",
           "lm_head.weight": "output.weight"}
    if name in top:
        return top[name]
    _, layer, rest = name.split(".", 2)
    stem, kind = rest.rsplit(".", 1)
    return f"blk.{layer}.{BLOCK_TENSORS[stem]}.{kind}"


def write_gguf(model: GPT, tokenizer: Tokenizer, path: str | os.PathLike,
               dtype: str = "f32") -> None:
    """model (pre-LayerNorm, learned positions, GELU: GPT-2's layout) and a byte-level
    tokenizer to path, matrices in dtype ("f32" or "f16")."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(config.n_layer)
    writer.add_context_length(config.block_size)
    writer.add_embedding_length(config.d_model)
    writer.add_feed_forward_length(config.d_ff)
    writer.add_head_count(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_eps)
    writer.add_file_type(FILE_TYPES[dtype])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    special = set(tokenizer.special_tokens.values())
    tokens = [token.decode() if i in special else shown(token)
              for i, token in enumerate(tokenizer.vocab)]
    types = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
             for i in range(len(tokens))]
    padding = config.vocab_size - len(tokens)
    writer.add_token_list(tokens + [f"[PAD{i}]" for i in range(padding)])
    writer.add_token_types(types + [gguf.TokenType.UNUSED] * padding)
    writer.add_token_merges([f"{shown(tokenizer.vocab[a])} {shown(tokenizer.vocab[b])}"
                             for a, b in tokenizer.merges.tolist()])
    if tokenizer.end_of_text_id is not None:
        writer.add_bos_token_id(tokenizer.end_of_text_id)
        writer.add_eos_token_id(tokenizer.end_of_text_id)
    for name, tensor in model.params.items():
        if name.endswith(".weight") and tensor.ndim == 2 and name.startswith("h."):
            tensor = tensor.T    # Conv1D (in, out) -> (out, in)
        matrix = tensor.ndim == 2
        writer.add_tensor(gguf_name(name), np.ascontiguousarray(
            tensor, dtype=np.float16 if matrix and dtype == "f16" else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
