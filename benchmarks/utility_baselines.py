"""Baselines of the utility benchmark: EDA augmentation, a DP-SGD classifier and a DP
fine-tuned generator.

- EDA (Wei and Zou 2019) has four operations. Synonym replacement and random insertion need
  a thesaurus (WordNet), which cannot be installed offline here (nlpaug fetches it through
  nltk at run time, and would pull pandas in), so only the two WordNet-free operations run:
  random swap and random deletion, with the paper's alpha = 0.1. `EDA_OPERATIONS` says which
  ran, and the benchmark records it.
- DP-SGD classifier: logistic regression trained with opacus on the real training data at a
  given (epsilon, delta). Its features must not read the data outside the mechanism, so it
  uses data-independent features: hashed term frequencies (no fitted vocabulary, no IDF) or
  embeddings from the public MiniLM encoder.
- DP fine-tuned generator (the dp-transformers recipe, Yue et al. 2023): LoRA adapters on the
  same SmolLM2 the bridge uses, trained with DP-SGD (opacus, per-sample clipping, PRV
  accounting) on "label: text" records, so one model learns every class and sampling is
  conditioned on the label prompt. One record is one training example, so the (epsilon,
  delta) covers the texts and their labels; sampling is post-processing. Heavy: meant for a
  GPU or many cores (`--device cuda`).
"""

from __future__ import annotations

import functools
import random
import time
import warnings
from typing import Any

import numpy as np

EDA_OPERATIONS = {"random_swap": True, "random_deletion": True, "synonym_replacement": False, "random_insertion": False}
EDA_NOTE = (
    "synonym replacement and random insertion need WordNet, not installable offline; "
    "only random swap and random deletion ran (alpha 0.1)"
)


# -- EDA ---------------------------------------------------------------------------------------------


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    words = list(words)
    for _ in range(n if len(words) > 1 else 0):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() > p]
    return kept or [words[rng.randrange(len(words))]]


def eda_augment(text: str, n_aug: int, *, alpha: float = 0.1, rng: random.Random) -> list[str]:
    """``n_aug`` variants of ``text``, alternating random swap and random deletion (EDA's
    WordNet-free operations; n_swaps = max(1, alpha * words), deletion probability alpha)."""
    words = text.split()
    out = []
    for k in range(n_aug):
        if k % 2 == 0:
            new = random_swap(words, max(1, int(alpha * len(words))), rng)
        else:
            new = random_deletion(words, alpha, rng)
        out.append(" ".join(new))
    return out


def eda_minority(texts: list[str], n_new: int, *, seed: int) -> list[str]:
    """``n_new`` EDA variants spread evenly over ``texts`` (the minority class records)."""
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    per = [n_new // len(texts) + (1 if k < n_new % len(texts) else 0) for k in range(len(texts))]
    out = []
    for k, i in enumerate(order):
        if per[k]:
            out.extend(eda_augment(texts[i], per[k], rng=rng))
    return out


def oversample_minority(texts: list[str], n_new: int, *, seed: int) -> list[str]:
    """``n_new`` copies of ``texts`` spread evenly over them: random oversampling, the plain
    baseline for class imbalance, to compare an augmentation with."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    return [texts[order[k % len(texts)]] for k in range(n_new)]


# -- DP-SGD classifier ----------------------------------------------------------------------------------


def hashed_features(texts: list[str]):
    """Data-independent bag-of-words features (hashing, l2-normalised tf, uni- and bigrams)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    hv = HashingVectorizer(n_features=2**14, ngram_range=(1, 2), alternate_sign=False, norm="l2")
    return hv.transform(texts).astype(np.float32)


class _Rows:
    """A torch dataset over a dense or sparse (CSR) feature matrix."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i):
        import torch

        row = self.X[i]
        row = row.toarray()[0] if hasattr(row, "toarray") else np.asarray(row)
        return torch.from_numpy(np.asarray(row, dtype=np.float32)), int(self.y[i])


@functools.cache
def dp_noise_multiplier(*, epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier opacus's PRV accountant finds for (epsilon, delta); cached
    because the search takes tens of seconds and both classifiers of a row need the same one."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, steps=steps, accountant="prv"
            )
        )


def dpsgd_batch_size(n: int) -> int:
    """Expected batch: about n/16 (at least 16 steps an epoch), between 16 and 256."""
    return int(min(256, max(16, n // 16)))


def dpsgd_logreg(
    X_train,
    y_train: np.ndarray,
    X_test,
    *,
    epsilon: float,
    delta: float,
    n_classes: int,
    epochs: int = 20,
    batch_size: int | None = None,
    lr: float = 0.5,
    max_grad_norm: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Logistic regression by DP-SGD (opacus, Poisson sampling, PRV accountant); returns
    (test predictions, info with the noise multiplier and the spent epsilon).

    Hyperparameters are fixed in advance (tuning them on the data would itself cost privacy).
    opacus's secure_mode is off (it needs torchcsprng): fine for a benchmark, not for a release.
    """
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader

    n = len(y_train)
    batch_size = batch_size or dpsgd_batch_size(n)
    torch.manual_seed(seed)
    model = torch.nn.Linear(X_train.shape[1], n_classes)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(_Rows(X_train, y_train), batch_size=batch_size)
    sigma = dp_noise_multiplier(epsilon=epsilon, delta=delta, sample_rate=1 / len(loader), steps=epochs * len(loader))
    engine = PrivacyEngine(accountant="prv")
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # secure-RNG notice; backward-hook notice on a first layer
        model, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=sigma, max_grad_norm=max_grad_norm
        )
        for _ in range(epochs):
            for xb, yb in loader:
                if len(yb) == 0:
                    continue
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
        spent = float(engine.get_epsilon(delta))
    with torch.no_grad():
        logits = [
            model(xb) for xb, _ in DataLoader(_Rows(X_test, np.zeros(X_test.shape[0], dtype=int)), batch_size=1024)
        ]
    pred = torch.cat(logits).argmax(1).numpy()
    info = {
        "epsilon_target": epsilon,
        "delta": delta,
        "epsilon_spent": spent,
        "noise_multiplier": sigma,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "momentum": 0.9,
        "max_grad_norm": max_grad_norm,
        "accountant": "prv",
        "secure_mode": False,
        "train_s": round(time.perf_counter() - t0, 2),
    }
    return pred, info


# -- DP fine-tuned generator ----------------------------------------------------------------------------


def dp_finetune_generate(
    texts: list[str],
    labels: list[str],
    n_per_class: dict[str, int],
    *,
    epsilon: float,
    delta: float,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    max_grad_norm: float = 1.0,
    lora_r: int = 8,
    max_len: int = 64,
    max_new_tokens: int = 48,
    device: str = "cpu",
    seed: int = 0,
    log=print,
) -> tuple[list[str], list[str], dict[str, Any]]:
    """DP-SGD LoRA fine-tuning of SmolLM2 on "label: text" records, then label-prompted sampling."""
    import torch
    from opacus import PrivacyEngine
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import DataLoader, TensorDataset

    from privsynth.models import load_lm

    torch.manual_seed(seed)
    lm, tok = load_lm(None)
    tok.padding_side = "right"
    model = get_peft_model(
        lm,
        LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], bias="none"),
    ).to(device)
    model.train()
    enc = tok(
        [f"{y}: {t}{tok.eos_token}" for t, y in zip(texts, labels)],
        add_special_tokens=False,
        truncation=True,
        max_length=max_len,
        padding="max_length",
        return_tensors="pt",
    )
    loader = DataLoader(TensorDataset(enc.input_ids, enc.attention_mask), batch_size=min(batch_size, len(texts)))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    engine = PrivacyEngine(accountant="prv")
    gs_model, optimizer, loader = engine.make_private_with_epsilon(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        target_epsilon=epsilon,
        target_delta=delta,
        epochs=epochs,
        max_grad_norm=max_grad_norm,
    )
    t0, steps = time.perf_counter(), 0
    for epoch in range(epochs):
        for ids, mask in loader:
            if len(ids) == 0:
                continue
            ids, mask = ids.to(device), mask.to(device)
            optimizer.zero_grad()
            logits = gs_model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target, tmask = ids[:, 1:], mask[:, 1:].float()
            tok_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            # per-record mean over its own tokens: each record's loss depends on that record only
            loss = ((tok_loss * tmask).sum(1) / tmask.sum(1).clamp(min=1)).mean()
            loss.backward()
            optimizer.step()
            steps += 1
        log(f"dpgen: epoch {epoch + 1}/{epochs} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f}s)")
    train_s = time.perf_counter() - t0
    model.eval()
    out_t, out_y = [], []
    gen = torch.Generator(device="cpu").manual_seed(seed)
    t1 = time.perf_counter()
    with torch.no_grad():
        for label, n in n_per_class.items():
            prompt = tok(f"{label}:", add_special_tokens=False, return_tensors="pt").input_ids.to(device)
            for start in range(0, n, 32):
                b = min(32, n - start)
                torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
                seqs = model.generate(
                    input_ids=prompt.repeat(b, 1),
                    attention_mask=torch.ones_like(prompt).repeat(b, 1),
                    do_sample=True,
                    top_p=0.9,
                    temperature=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
                out_t += [t.strip() for t in tok.batch_decode(seqs[:, prompt.shape[1] :], skip_special_tokens=True)]
                out_y += [label] * b
    info = {
        "epsilon_target": epsilon,
        "delta": delta,
        "epsilon_spent": float(engine.get_epsilon(delta)),
        "noise_multiplier": float(optimizer.noise_multiplier),
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "max_grad_norm": max_grad_norm,
        "lora_r": lora_r,
        "lora_targets": ["q_proj", "v_proj"],
        "max_len": max_len,
        "accountant": "prv",
        "train_s": round(train_s, 1),
        "sample_s": round(time.perf_counter() - t1, 1),
        "recipe": "dp-transformers style: DP-SGD LoRA fine-tuning on 'label: text', label-prompted sampling",
    }
    return out_t, out_y, info
