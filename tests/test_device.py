"""--device: auto picks CUDA only where torch sees it; a CUDA run matches the CPU run (where CUDA exists)."""

import numpy as np
import pytest
import torch

from audits.encoder import resolve_device
from audits.errors import AuditInputError
from privsynth.device import resolve
from privsynth.errors import UserError

HAS_CUDA = torch.cuda.is_available()


def test_auto_and_cpu_resolve_to_what_torch_sees():
    assert resolve("cpu") == "cpu" and resolve_device("cpu") == "cpu"
    assert resolve("auto") == resolve(None) == resolve_device("auto") == ("cuda" if HAS_CUDA else "cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", ""])
def test_an_unknown_device_is_one_user_error(bad):
    if bad == "":  # empty means auto
        assert resolve(bad) in ("cpu", "cuda")
        return
    with pytest.raises(UserError, match="--device must be"):
        resolve(bad)
    with pytest.raises(AuditInputError, match="--device must be"):
        resolve_device(bad)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_refused_not_silently_slow():
    with pytest.raises(UserError, match="torch sees no CUDA device"):
        resolve("cuda")
    with pytest.raises(AuditInputError, match="no such CUDA device"):
        resolve_device("cuda:0")


def test_the_release_records_the_device_it_resolved(tmp_path):
    """The manifest's config holds the concrete device (cpu here unless CUDA is present)."""
    from privsynth.release import ReleaseRequest

    req = ReleaseRequest(input=tmp_path / "in.csv", out=tmp_path / "out", privacy="none")
    assert req.device == "auto" and req.config()["device"] == "auto"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_vectors_and_greedy_decodes_match_the_cpu():
    """The embedded encoder at cosine >= 0.9999 and the shipped bridge's greedy decodes identical."""
    from privsynth.bridge import Bridge
    from privsynth.encoder import Encoder

    texts = ["Free entry to win a prize, text WIN now", "see you at the pub at eight", "the plot is thin"]
    cpu, gpu = Encoder(device="cpu").encode(texts), Encoder(device="cuda").encode(texts)
    cos = (cpu * gpu).sum(1) / (np.linalg.norm(cpu, axis=1) * np.linalg.norm(gpu, axis=1))
    assert cos.min() >= 0.9999, cos
    greedy_cpu = Bridge.load().to("cpu").generate(cpu, n_candidates=1, max_new_tokens=24, seed=0)
    greedy_gpu = Bridge.load().to("cuda").generate(cpu, n_candidates=1, max_new_tokens=24, seed=0)
    assert greedy_cpu == greedy_gpu
