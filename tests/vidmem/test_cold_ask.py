"""A cold `vidmem ask` on a classical + MiniLM store loads neither torch nor transformers."""

from __future__ import annotations

import cv2
import pytest

from eval.bench_ask import cold_ask
from vidmem.ingest import IngestConfig, index_video

TORCH_STACK = {"torch", "transformers", "sentence_transformers", "open_clip"}


def test_text_and_image_asks_answer_without_torch(sample_video, tmp_path, monkeypatch):
    video, manifest = sample_video(duration=40.0, fps=5.0, size=(320, 180))
    srt = tmp_path / "sample.srt"
    srt.write_text(manifest.to_srt())
    home = tmp_path / "home"
    monkeypatch.setenv("VIDMEM_HOME", str(home))
    store = tmp_path / "store"
    index_video(video, store, IngestConfig(ocr=False, subtitles=(str(srt),)))
    assert [p for p in (home / "models").iterdir() if (p / "model.onnx").is_file()]  # exported while indexing

    cue = manifest.caption_spans()[2]
    text = cold_ask(store, cue.text.lower(), env={"VIDMEM_HOME": str(home)})
    assert not TORCH_STACK & set(text["modules"]), text["modules"]
    assert "onnxruntime" in text["modules"]  # the question really was embedded, by the light runtime
    first = text["answer"]["evidence"][0]
    assert cue.t_start - 0.5 <= first["t_start"] < cue.t_end, first  # evidence from the scene where it is said

    scene = manifest.scenes[3]
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_MSEC, (scene.t_start + 4.0) * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok
    image_path = tmp_path / "query.png"
    cv2.imwrite(str(image_path), frame)
    image = cold_ask(store, "", image_path, env={"VIDMEM_HOME": str(home)})
    assert not TORCH_STACK & set(image["modules"]), image["modules"]
    first = image["answer"]["evidence"][0]
    assert scene.t_start - 1.0 <= first["t_start"] <= scene.t_end


def test_cold_ask_reports_the_cli_error(tmp_path):
    with pytest.raises(RuntimeError, match="is not a vidmem store"):
        cold_ask(tmp_path, "anything")
