"""llm/model/pretrained.py, GPT.from_pretrained and GPT.save_pretrained: Hugging Face GPT-2
directories read (single file or shards, F32/F16/BF16, with or without the "transformer."
prefix, tied or not) and written, checked against a plain NumPy GPT-2 forward written here and,
where installed, against transformers itself; the options we do not implement and damaged
directories refused with their names; loading in about the weights' size of memory."""
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llm.model import GPT, GPTConfig, load
from llm.model.safetensors import load_file, save_file
from llm.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"vocab_size": 40, "n_positions": 16, "n_embd": 16, "n_layer": 2, "n_head": 4}


# ---------------------------------------------------------------- an independent GPT-2

def numpy_gpt2(tensors: dict, config: dict, ids) -> np.ndarray:
    """Logits (T, vocab_size) float64 of GPT-2 for token ids (T,), straight from the Hugging
    Face tensors (names with or without "transformer.") and config.json values."""
    t = {name.removeprefix("transformer."): np.asarray(value, np.float64)
         for name, value in tensors.items()}
    eps = config.get("layer_norm_epsilon", 1e-5)
    n_head, C = config["n_head"], config["n_embd"]
    D = C // n_head

    def layernorm(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * t[name + ".weight"] + t[name + ".bias"]

    def act(x):
        if config.get("activation_function", "gelu_new") == "relu":
            return np.maximum(x, 0.0)
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    T = len(ids)
    x = t["wte.weight"][ids] + t["wpe.weight"][:T]
    future = np.triu(np.ones((T, T), bool), 1)
    for layer in range(config["n_layer"]):
        p = f"h.{layer}."
        qkv = layernorm(x, p + "ln_1") @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
        q, k, v = (part.reshape(T, n_head, D).transpose(1, 0, 2) for part in np.split(qkv, 3, -1))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(D)
        scores[:, future] = -np.inf
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        y = (weights @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + y @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = act(layernorm(x, p + "ln_2") @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + h @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    head = t["wte.weight"] if config.get("tie_word_embeddings", True) else t["lm_head.weight"]
    return layernorm(x, "ln_f") @ head.T


# ---------------------------------------------------------------- directories made by hand

def gpt2_tensors(config: dict, rng, prefix: str = "transformer.", std: float = 0.3) -> dict:
    """Random float32 GPT-2 tensors for config, named as transformers names them."""
    C, V, L = config["n_embd"], config["vocab_size"], config["n_layer"]
    F = config.get("n_inner") or 4 * C
    shapes = {"wte.weight": (V, C), "wpe.weight": (config["n_positions"], C)}
    for layer in range(L):
        p = f"h.{layer}."
        shapes.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
                       p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
                       p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                       p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
                       p + "mlp.c_fc.weight": (C, F), p + "mlp.c_fc.bias": (F,),
                       p + "mlp.c_proj.weight": (F, C), p + "mlp.c_proj.bias": (C,)})
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    tensors = {prefix + name: (rng.standard_normal(shape) * std).astype(np.float32)
               for name, shape in shapes.items()}
    if not config.get("tie_word_embeddings", True):
        tensors["lm_head.weight"] = (rng.standard_normal((V, C)) * std).astype(np.float32)
    return tensors


def write_hf_directory(directory: Path, config: dict, tensors: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "gpt2", **config}))
    save_file(directory / "model.safetensors", tensors, metadata={"format": "pt"})
    return directory


def write_raw_safetensors(path: Path, entries: dict) -> None:
    """A safetensors file by hand: name -> (dtype name, shape, raw bytes)."""
    header, offset = {}, 0
    for name, (dtype, shape, data) in entries.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded
                     + b"".join(data for _, _, data in entries.values()))


IDS = [3, 17, 0, 39, 8, 8, 21]


@pytest.mark.parametrize("prefix", ["transformer.", ""])
@pytest.mark.parametrize("tied", [True, False])
def test_a_hand_made_gpt2_directory_gives_the_numpy_gpt2_logits(tmp_path, prefix, tied):
    config = {**SMALL, "tie_word_embeddings": tied, "layer_norm_epsilon": 1e-3}
    tensors = gpt2_tensors(config, np.random.default_rng(0), prefix)
    directory = write_hf_directory(tmp_path / "gpt2", config, tensors)
    model = GPT.from_pretrained(directory)
    assert model.config.layer_norm_eps == 1e-3 and model.config.tie_embeddings == tied
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0],
                               numpy_gpt2(tensors, config, IDS), rtol=1e-4, atol=1e-5)


def test_relu_an_inner_width_and_the_old_mask_buffers(tmp_path):
    config = {**SMALL, "activation_function": "relu", "n_inner": 24, "resid_pdrop": 0.1,
              "embd_pdrop": 0.1, "attn_pdrop": 0.1}
    tensors = gpt2_tensors(config, np.random.default_rng(1), "")
    with_buffers = {**tensors, "h.0.attn.bias": np.tril(np.ones((1, 1, 16, 16), np.float32)),
                    "h.0.attn.masked_bias": np.array(-1e4, np.float32)}
    model = GPT.from_pretrained(write_hf_directory(tmp_path / "gpt2", config, with_buffers))
    assert model.config.activation == "relu" and model.config.d_ff == 24
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0],
                               numpy_gpt2(tensors, config, IDS), rtol=1e-4, atol=1e-5)


def test_a_tied_model_may_store_its_head_only_as_a_copy_of_wte(tmp_path):
    tensors = gpt2_tensors(SMALL, np.random.default_rng(2))
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"].copy()
    GPT.from_pretrained(write_hf_directory(tmp_path / "same", SMALL, tensors))
    tensors["lm_head.weight"][3, 4] += 1.0
    with pytest.raises(ValueError, match="lm_head.weight differs from wte.weight.*tie"):
        GPT.from_pretrained(write_hf_directory(tmp_path / "other", SMALL, tensors))


def test_f16_and_bf16_weights_load_to_their_exact_float32_values(tmp_path):
    rng = np.random.default_rng(3)
    tensors = gpt2_tensors(SMALL, rng)
    f16 = {name: value.astype(np.float16) for name, value in tensors.items()}
    model = GPT.from_pretrained(write_hf_directory(tmp_path / "f16", SMALL, f16))
    for name, value in f16.items():
        np.testing.assert_array_equal(model.params[name.removeprefix("transformer.")],
                                      value.astype(np.float32))
    # bfloat16: the upper 16 bits of a float32 (truncated here), written by hand
    bits = {name: (value.view(np.uint32) >> 16).astype("<u2") for name, value in tensors.items()}
    directory = tmp_path / "bf16"
    write_hf_directory(directory, SMALL, {})
    write_raw_safetensors(directory / "model.safetensors",
                          {name: ("BF16", b.shape, b.tobytes()) for name, b in bits.items()})
    model = GPT.from_pretrained(directory)
    for name, b in bits.items():
        expected = (b.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(model.params[name.removeprefix("transformer.")], expected)
    loaded, _ = load_file(directory / "model.safetensors")      # load_file: float32 copies
    np.testing.assert_array_equal(loaded["transformer.wte.weight"],
                                  model.params["wte.weight"])


def shard(directory: Path, tensors: dict, n_shards: int) -> None:
    """tensors written as n_shards files with their model.safetensors.index.json."""
    names = list(tensors)
    weight_map = {}
    for i in range(n_shards):
        file = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        part = names[i::n_shards]
        save_file(directory / file, {name: tensors[name] for name in part})
        weight_map.update(dict.fromkeys(part, file))
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))


@pytest.fixture
def sharded(tmp_path):
    config = {**SMALL, "tie_word_embeddings": False}
    tensors = gpt2_tensors(config, np.random.default_rng(4))
    directory = tmp_path / "sharded"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "gpt2", **config}))
    shard(directory, tensors, 3)
    return directory, config, tensors


def test_a_sharded_directory_loads(sharded):
    directory, config, tensors = sharded
    model = GPT.from_pretrained(directory)
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0],
                               numpy_gpt2(tensors, config, IDS), rtol=1e-4, atol=1e-5)


def test_a_missing_shard_is_named(sharded):
    directory, _, _ = sharded
    (directory / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00003.safetensors not found"):
        GPT.from_pretrained(directory)


def test_a_tensor_the_index_places_in_a_shard_that_lacks_it_is_named(sharded):
    directory, _, _ = sharded
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    index["weight_map"]["transformer.ln_f.bias"] = "model-00001-of-00003.safetensors"
    index["weight_map"]["transformer.ln_f.weight"] = "model-00001-of-00003.safetensors"
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="has no tensor 'transformer.ln_f"):
        GPT.from_pretrained(directory)


def test_a_tensor_missing_from_the_index_is_named(sharded):
    directory, _, _ = sharded
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    del index["weight_map"]["transformer.h.1.mlp.c_fc.bias"]
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"missing \['h.1.mlp.c_fc.bias'\]"):
        GPT.from_pretrained(directory)


def test_a_tensor_of_the_wrong_shape_is_named(tmp_path):
    tensors = gpt2_tensors(SMALL, np.random.default_rng(5))
    tensors["transformer.h.0.mlp.c_fc.weight"] = tensors["transformer.h.0.mlp.c_fc.weight"].T
    with pytest.raises(ValueError, match=r"h.0.mlp.c_fc.weight has shape \(64, 16\), config"):
        GPT.from_pretrained(write_hf_directory(tmp_path / "gpt2", SMALL, tensors))


def test_a_missing_or_unexpected_tensor_is_named(tmp_path):
    tensors = gpt2_tensors(SMALL, np.random.default_rng(6))
    del tensors["transformer.ln_f.bias"]
    tensors["transformer.h.0.attn.q_norm"] = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"missing \['ln_f.bias'\], unexpected "
                                         r"\['h.0.attn.q_norm'\]"):
        GPT.from_pretrained(write_hf_directory(tmp_path / "gpt2", SMALL, tensors))


@pytest.mark.parametrize("option, value", [
    ("scale_attn_by_inverse_layer_idx", True), ("reorder_and_upcast_attn", True),
    ("scale_attn_weights", False), ("add_cross_attention", True),
    ("activation_function", "gelu"), ("activation_function", "silu"),
    ("model_type", "llama"),
])
def test_options_we_do_not_implement_are_refused_by_name(tmp_path, option, value):
    directory = write_hf_directory(tmp_path / "gpt2", SMALL, gpt2_tensors(
        SMALL, np.random.default_rng(7)))
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, option: value}))
    with pytest.raises(ValueError, match=f"{option}|{value}"):
        GPT.from_pretrained(directory)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"])
def test_weights_in_another_format_are_refused_with_what_to_do(tmp_path, name):
    directory = tmp_path / "gpt2"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "gpt2", **SMALL}))
    (directory / name).write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match=f"{name}.*safe_serialization=True"):
        GPT.from_pretrained(directory)


@pytest.mark.parametrize("option", [{"norm": "post"}, {"positional": "sinusoidal"}])
def test_a_model_gpt2_cannot_express_is_not_exported(tmp_path, option):
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_head=2, d_model=8,
                          **option))
    with pytest.raises(ValueError, match=f"{next(iter(option.values()))}.*GPT-2"):
        model.save_pretrained(tmp_path / "out")


@pytest.mark.parametrize("tied", [True, False])
def test_ours_to_gpt2_and_back_is_exact(tmp_path, tied):
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, d_model=8,
                          tie_embeddings=tied, layer_norm_eps=1e-6, activation="relu"))
    model.save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["architectures"] == ["GPT2LMHeadModel"]
    tensors, metadata = load_file(tmp_path / "hf" / "model.safetensors")
    assert metadata == {"format": "pt"} and ("lm_head.weight" in tensors) == (not tied)
    loaded = GPT.from_pretrained(tmp_path / "hf")
    assert loaded.config == GPTConfig(**{**model.config.to_dict(), "seed": loaded.config.seed})
    np.testing.assert_array_equal(loaded.params.flat, model.params.flat)
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0],
                               numpy_gpt2(tensors, config, IDS), rtol=1e-4, atol=1e-5)


def test_from_pretrained_reads_our_own_directory_too(tmp_path):
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_head=2, d_model=8))
    model.save(tmp_path / "ours")
    np.testing.assert_array_equal(GPT.from_pretrained(tmp_path / "ours").params.flat,
                                  model.params.flat)


# ---------------------------------------------------------------- against transformers

@pytest.fixture
def transformers():
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def hf_model(transformers, tied=True, **overrides):
    import torch

    torch.manual_seed(0)
    config = transformers.GPT2Config(**{**SMALL, "tie_word_embeddings": tied,
                                        "initializer_range": 0.3, "bos_token_id": None,
                                        "eos_token_id": None, **overrides})
    return transformers.GPT2LMHeadModel(config).eval()


def hf_logits(model, ids) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


@pytest.mark.parametrize("tied", [True, False])
def test_transformers_files_give_transformers_logits_and_greedy_tokens(tmp_path, transformers,
                                                                       tied):
    import torch

    reference = hf_model(transformers, tied, layer_norm_epsilon=1e-4)
    reference.save_pretrained(tmp_path / "hf")
    model = GPT.from_pretrained(tmp_path / "hf")
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0], hf_logits(reference, IDS),
                               rtol=1e-4, atol=1e-5)
    from llm.model import SamplingConfig

    prompt = IDS[:3]
    ours = model.generate(prompt, 10, SamplingConfig(temperature=0.0))
    with torch.no_grad():
        theirs = reference.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False,
                                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                    pad_token_id=0)[0, len(prompt):].tolist()
    assert list(ours) == theirs


def test_transformers_shards_and_half_precision_load_exactly(tmp_path, transformers):
    import torch

    reference = hf_model(transformers, tied=False)
    reference.save_pretrained(tmp_path / "sharded", max_shard_size="4KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    model = GPT.from_pretrained(tmp_path / "sharded")
    np.testing.assert_allclose(model.forward(np.array([IDS]))[0], hf_logits(reference, IDS),
                               rtol=1e-4, atol=1e-5)
    for dtype in (torch.float16, torch.bfloat16):
        half = hf_model(transformers, tied=False).to(dtype)
        half.save_pretrained(tmp_path / str(dtype))
        model = GPT.from_pretrained(tmp_path / str(dtype))
        for name, tensor in half.state_dict().items():
            ours = name.removeprefix("transformer.")
            if ours in model.params.views:
                np.testing.assert_array_equal(model.params[ours], tensor.float().numpy())


@pytest.mark.parametrize("tied", [True, False])
def test_transformers_to_ours_to_transformers_is_bit_for_bit(tmp_path, transformers, tied):
    hf_model(transformers, tied, n_inner=24, activation_function="relu",
             layer_norm_epsilon=1e-6).save_pretrained(tmp_path / "hf")
    GPT.from_pretrained(tmp_path / "hf").save_pretrained(tmp_path / "again")
    before, _ = load_file(tmp_path / "hf" / "model.safetensors")
    after, _ = load_file(tmp_path / "again" / "model.safetensors")
    assert sorted(before) == sorted(after)
    for name, tensor in before.items():
        np.testing.assert_array_equal(after[name], tensor)
    old = json.loads((tmp_path / "hf" / "config.json").read_text())
    new = json.loads((tmp_path / "again" / "config.json").read_text())
    for key in ("model_type", "architectures", "vocab_size", "n_positions", "n_embd", "n_layer",
                "n_head", "n_inner", "activation_function", "layer_norm_epsilon",
                "tie_word_embeddings", "scale_attn_weights", "dtype"):
        assert new[key] == old[key], key
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "again")
    np.testing.assert_array_equal(hf_logits(again, IDS), hf_logits(
        transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf"), IDS))


@pytest.mark.parametrize("tied", [True, False])
def test_transformers_loads_our_export_and_gives_our_logits(tmp_path, transformers, tied):
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, d_model=8,
                          tie_embeddings=tied, layer_norm_eps=1e-6))
    model.save_pretrained(tmp_path / "hf")
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(theirs).__name__ == "GPT2LMHeadModel"
    assert theirs.config.tie_word_embeddings == tied
    np.testing.assert_allclose(hf_logits(theirs, IDS), model.forward(np.array([IDS]))[0],
                               rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- with the tokenizer

def test_save_pretrained_writes_the_tokenizer_and_load_reads_both(tmp_path):
    if not (hasattr(Tokenizer, "save_pretrained") and hasattr(Tokenizer, "from_pretrained")):
        pytest.skip("Tokenizer.save_pretrained / from_pretrained not on this branch yet")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat; the dog ran off.\n" * 20)
    tokenizer = Tokenizer.train(corpus, 300)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size + 20, block_size=16, n_layer=1,
                          n_head=2, d_model=8))
    model.save_pretrained(tmp_path / "hf", tokenizer)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["eos_token_id"] == tokenizer.end_of_text_id
    loaded, loaded_tokenizer = load(tmp_path / "hf")
    np.testing.assert_array_equal(loaded.params.flat, model.params.flat)
    assert loaded_tokenizer.encode("the cat") == tokenizer.encode("the cat")


# ---------------------------------------------------------------- memory

# VmHWM, the process's own peak resident set: ru_maxrss would do but for Linux carrying the
# parent's resident size over to the child at exec (a test process with torch loaded: 500 MB)
MEASURE = textwrap.dedent("""
    import sys
    from llm.model import GPT

    def status(key):
        with open("/proc/self/status") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith(key))

    before = status("VmRSS:")
    model = GPT.from_pretrained(sys.argv[1]) if sys.argv[2] == "hf" else GPT.load(sys.argv[1])
    print(status("VmHWM:") - before, model.params.flat.nbytes)
""")


def peak_growth(directory: Path, kind: str) -> tuple[int, int]:
    """(peak resident bytes added while loading, float32 weight bytes), in a fresh process."""
    result = subprocess.run([sys.executable, "-c", MEASURE, str(directory), kind],
                            capture_output=True, text=True, check=True, cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                 "LLM_NUM_THREADS": "1"})
    growth, weights = map(int, result.stdout.split())
    return growth, weights


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc/self/status")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's shadow memory and quarantine change the figures")
def test_loading_takes_about_the_weights_size_in_memory(tmp_path):
    model = GPT(GPTConfig(vocab_size=8192, block_size=256, n_layer=6, n_head=6, d_model=384,
                          tie_embeddings=False))
    model.save_pretrained(tmp_path / "hf")
    model.save(tmp_path / "ours")
    del model
    for directory, kind in ((tmp_path / "hf", "hf"), (tmp_path / "ours", "ours")):
        growth, weights = peak_growth(directory, kind)
        assert weights > 40_000_000
        assert growth <= 1.2 * weights + 8_000_000, (kind, growth, weights)
