"""GPU paths (deselected by default; run with ``pytest -m gpu`` on a CUDA machine)."""

from __future__ import annotations

import numpy as np
import pytest

from vidmem.storage.index import VectorIndex, gpu_available

pytestmark = pytest.mark.gpu


def test_faiss_gpu_search_matches_cpu():
    assert gpu_available(), "faiss-gpu with a CUDA device is required for this test"
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(5000, dtype=np.int64) * 3
    cpu, gpu = VectorIndex(64, use_gpu=False), VectorIndex(64, use_gpu=True)
    for index in (cpu, gpu):
        index.add(ids, vecs)
    _, cpu_ids = cpu.search(vecs[:50], 5)
    _, gpu_ids = gpu.search(vecs[:50], 5)
    assert (cpu_ids[:, 0] == ids[:50]).all()
    assert (gpu_ids[:, 0] == cpu_ids[:, 0]).all()
