"""The ``encoders`` package face: light import, registration, presets, did-you-mean errors."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import (
    ENCODERS,
    TEXT_ENCODERS,
    Encoder,
    TextEncoder,
    UnknownComponentError,
    build_encoder,
    build_text_encoder,
    l2_normalize,
)
from encoders.classical import ClassicalConfig
from encoders.openclip import OpenCLIPConfig
from tests.encoders.conftest import run_python

_LIGHT_IMPORT_SCRIPT = """
import json, sys
import numpy as np
import encoders
heavy = ("torch", "open_clip", "sentence_transformers", "transformers")
at_import = [m for m in heavy if m in sys.modules]
enc = encoders.build_encoder("classical")
enc.encode_images(np.zeros((1, 48, 64, 3), dtype=np.uint8))
text = encoders.build_text_encoder()
dim = text.dim
after_use = [m for m in heavy if m in sys.modules]
print(json.dumps({"at_import": at_import, "after_use": after_use, "text_dim": dim}))
"""


def test_importing_encoders_does_not_import_torch():
    result = run_python(_LIGHT_IMPORT_SCRIPT)
    assert result["at_import"] == []
    # The classical encoder and a not-yet-used text encoder stay torch-free too.
    assert result["after_use"] == []
    assert result["text_dim"] == 384


def test_registered_names_and_presets():
    assert {"classical", "openclip", "tiny", "clip-b32"} <= set(ENCODERS.names())
    assert {"sentence-transformers", "minilm"} <= set(TEXT_ENCODERS.names())
    assert ENCODERS.resolve_config("tiny") == (
        "openclip",
        OpenCLIPConfig(name="tiny", arch="tiny-clip", random_init=True),
    )
    name, config = ENCODERS.resolve_config("clip-b32")
    assert (name, config.arch, config.weights, config.random_init) == (
        "openclip",
        "ViT-B-32",
        "laion2b_s34b_b79k",
        False,
    )


def test_built_encoders_satisfy_the_protocols():
    assert isinstance(build_encoder("classical"), Encoder)
    assert isinstance(build_text_encoder(), TextEncoder)


def test_build_from_config_object_and_overrides():
    enc = build_encoder(ClassicalConfig(grid=(2, 2)))
    assert enc.config.grid == (2, 2)
    assert build_encoder("classical", thumb=(8, 6)).config.thumb == (8, 6)


@pytest.mark.parametrize("name, suggestion", [("clasical", "classical"), ("clip-b23", "clip-b32"), ("tiney", "tiny")])
def test_unknown_encoder_suggests_close_names(name, suggestion):
    with pytest.raises(UnknownComponentError, match=f"did you mean.*'{suggestion}'"):
        build_encoder(name)


def test_unknown_text_encoder_suggests_close_names():
    with pytest.raises(UnknownComponentError, match="did you mean.*'minilm'"):
        build_text_encoder("minilml")


def test_l2_normalize_keeps_zero_rows():
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
