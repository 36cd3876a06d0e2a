"""Numbers said aloud, in the forms people search for: "7:15" and "seven fifteen", "20" and "twenty".

A transcript writes a number one way (Whisper mostly writes digits, sometimes dropping the colon
of a time: "715"); a question may use the other. ``number_forms`` gives the other forms of every
number in a text, so a store can index both. Forms are added, never substituted: the words as
transcribed stay what evidence shows.
"""

from __future__ import annotations

import re

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUE = {w: i for i, w in enumerate(_ONES)} | {w: 10 * i for i, w in enumerate(_TENS) if w != "_"}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?![\d:])")
_NUMBER = re.compile(r"(?<![\d:.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d:]|,\d)")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?")
_MAX_SPOKEN = 999_999_999


def cardinal(n: int) -> str:
    """``215`` -> ``two hundred fifteen`` (0 <= n <= 999,999,999)."""
    if not 0 <= n <= _MAX_SPOKEN:
        raise ValueError(f"cardinal() covers 0..{_MAX_SPOKEN}, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else f" {_ONES[n % 10]}")
    for size, name in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{cardinal(head)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def clock(hour: int, minute: int) -> str:
    """``(7, 15)`` -> ``seven fifteen``; ``(7, 0)`` -> ``seven o'clock``; ``(7, 5)`` -> ``seven oh five``."""
    if minute == 0:
        return f"{cardinal(hour)} o'clock"
    return f"{cardinal(hour)} {'oh ' if minute < 10 else ''}{cardinal(minute)}"


def year(n: int) -> str:
    """``1995`` -> ``nineteen ninety five``; ``2005`` -> ``two thousand five``."""
    head, tail = divmod(n, 100)
    if 2000 <= n < 2010:
        return cardinal(n)
    return f"{cardinal(head)} {'hundred' if tail == 0 else cardinal(tail) if tail >= 10 else 'oh ' + cardinal(tail)}"


def number_forms(text: str) -> list[str]:
    """Other ways to write the numbers in ``text``, each once, in order of appearance.

    Digits gain words (``20`` -> ``twenty``, ``3.5`` -> ``three point five``), times gain their
    spoken form (``7:15`` -> ``seven fifteen``), a bare 3-4 digit number that reads as a clock time
    gains that time (``715`` or ``7.15`` -> ``7:15``, ``seven fifteen``: Whisper often writes a
    spoken time so), years
    gain the year form; number words gain digits (``twenty five`` -> ``25``, ``seven fifteen`` ->
    ``7:15``). Forms already present in ``text`` are left out.

    Args:
        text: a sentence as transcribed.

    Returns:
        The added forms (may be empty).
    """
    forms: list[str] = []
    for m in _TIME.finditer(text):
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour <= 24 and minute < 60:
            forms.append(clock(hour, minute))
    for m in _NUMBER.finditer(text):
        forms += _digit_forms(m.group(1), m.group(2))
    forms += _word_forms(text)
    low = text.lower()
    return [f for f in dict.fromkeys(forms) if f.lower() not in low]


def _digit_forms(written: str, fraction: str | None) -> list[str]:
    whole = written.replace(",", "")
    n = int(whole)
    if n > _MAX_SPOKEN:
        return []
    if fraction is not None:
        forms = [f"{cardinal(n)} point {' '.join(_ONES[int(d)] for d in fraction)}"]
        # Whisper writes a spoken "seven fifteen" as "7.15" as often as "7:15".
        if len(fraction) == 2 and 1 <= n <= 12 and int(fraction) < 60:
            forms += [f"{n}:{fraction}", clock(n, int(fraction))]
        return forms
    forms = [cardinal(n)]
    if written == whole and len(whole) in (3, 4) and 1 <= n // 100 <= 12 and n % 100 < 60 and not whole.startswith("0"):
        forms += [f"{n // 100}:{n % 100:02d}", clock(n // 100, n % 100)]
    if len(whole) == 4 and 1100 <= n <= 2099 and n % 100:
        forms.append(year(n))
    return forms


def _word_forms(text: str) -> list[str]:
    """Digits for runs of number words; a clock time for "<hour word> <minute words>"."""
    forms = []
    for run in _number_word_runs(text):
        value = _run_value(run)
        if value is not None:
            forms.append(str(value))
        time = _clock_value(run)
        if time is not None:
            forms.append(time)
    return forms


def _number_word_runs(text: str) -> list[list[str]]:
    runs: list[list[str]] = []
    current: list[str] = []
    for token in _WORD.findall(text.lower()):
        parts = token.split("-")
        if all(p in _WORD_VALUE or p in _SCALES or (p in ("and", "oh") and current) for p in parts):
            current += parts
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [[w for w in run if w != "and"] for run in runs if any(w in _WORD_VALUE or w in _SCALES for w in run)]


def _run_value(run: list[str]) -> int | None:
    """The cardinal a run of number words spells, or None when it is not one number ("seven fifteen")."""
    total, group, last = 0, 0, None
    for w in run:
        if w == "oh":
            return None
        if w in _SCALES:
            if group == 0:
                group = 1
            if _SCALES[w] == 100:
                group *= 100
            else:
                total += group * _SCALES[w]
                group = 0
        else:
            v = _WORD_VALUE[w]
            # "twenty five" adds; "seven fifteen" or "five five" are two numbers, not one.
            if last is not None and last not in _SCALES and not (_WORD_VALUE[last] % 10 == 0 < v < 10):
                return None
            group += v
        last = w
    return total + group


def _clock_value(run: list[str]) -> str | None:
    """``seven fifteen`` / ``seven oh five`` / ``eleven forty five`` -> ``7:15`` / ``7:05`` / ``11:45``."""
    if len(run) < 2 or run[0] not in _WORD_VALUE or not 1 <= _WORD_VALUE[run[0]] <= 12:
        return None
    rest = run[1:]
    if rest[0] == "oh" and len(rest) == 2 and rest[1] in _WORD_VALUE and 1 <= _WORD_VALUE[rest[1]] <= 9:
        return f"{_WORD_VALUE[run[0]]}:0{_WORD_VALUE[rest[1]]}"
    if any(w in _SCALES or w == "oh" for w in rest):
        return None
    minute = _run_value(rest)
    if minute is None or not 10 <= minute < 60:
        return None
    return f"{_WORD_VALUE[run[0]]}:{minute:02d}"
