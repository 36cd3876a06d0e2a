"""``vidmem bench faults``: each fault of issue 12 tried ``trials`` times; what was lost, against a reference.

A generated video (5 minutes, signs burned in, a subtitle cue per scene) is indexed once with the
default settings into a reference store. Every fault then runs the real CLI in new processes
(``kill -9`` hits a real ``vidmem index``) and its outcome is compared with the reference:

* rows: every memory (store, scale, times, visual and text vectors, keyframe, text) as a multiset,
  so a lost row and a duplicated one both show;
* counts: ``vidmem info --json``'s memories per store;
* answers: ``vidmem ask --json`` for a fixed set of text and image questions (answer, evidence with
  its scores, keyframe names relative to the store).

"lost: nothing" is printed only when every comparison made for that fault is equal. The CLI runs
with ``SAVE_FLAT_INDEXES`` on, as the fault tests do: small stores otherwise keep no index files (their
exact indexes are rebuilt at load), and the damaged-index faults need files to damage; HNSW and
IVF-PQ files go through the same checks. Root ignores ``chmod``, so the read-only store is a
read-only bind mount and the full disk a tiny tmpfs; both are skipped, with the reason, where
``mount`` is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.bench_ask import _frame_at, oversized_png
from vidmem.text.spans import TextSpan

REPO_ROOT = Path(__file__).resolve().parents[1]
MINUTES = 5.0
CUES = 25_000
# Runs ``vidmem`` with flat index files saved (see the module docstring); exits with its code.
_CLI = """
import sys
import vidmem.storage.store as store
if hasattr(store, "SAVE_FLAT_INDEXES"):
    store.SAVE_FLAT_INDEXES = True
from vidmem.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Loads one index group (a file's stem) in a new process and searches it with fixed random queries:
# the asks touch only the groups their questions need, so a damaged file of another group is checked here.
_SEARCH = """
import json, sys, warnings
import numpy as np
import vidmem.storage.store as store
if hasattr(store, "SAVE_FLAT_INDEXES"):
    store.SAVE_FLAT_INDEXES = True
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with store.MemoryStore(sys.argv[1], read_only=True) as s:
        index = s.index(sys.argv[2])
        queries = np.random.default_rng(0).standard_normal((16, index.dim)).astype(np.float32)
        scores, ids = index.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), 5)
print(json.dumps({"ids": ids.tolist(), "scores": np.round(scores, 5).tolist(),
                  "warnings": [str(w.message) for w in caught]}))
"""


@dataclass
class Trial:
    """One try of a fault: whether it held, what happened, and the differences from the reference."""

    ok: bool
    outcome: str
    lost: list[str] = field(default_factory=list)
    seconds: float | None = None


def cli_cmd(*args: str) -> list[str]:
    """The command line of ``vidmem ARGS`` in a new process of this checkout."""
    return [sys.executable, "-c", _CLI, *args]


def cli(*args: str) -> subprocess.CompletedProcess:
    """Runs ``vidmem ARGS`` to its end; stdout and stderr as text."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(cli_cmd(*args), capture_output=True, text=True, env=env, cwd=REPO_ROOT)


def one_error_line(out: subprocess.CompletedProcess, *needles: str) -> str | None:
    """None when ``out`` failed with exactly one ``error:`` line holding every needle; else what is wrong."""
    lines = out.stderr.strip().splitlines()
    if out.returncode == 0:
        return "exit 0 instead of an error"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"{len(lines)} stderr lines: {out.stderr.strip()[-200:]!r}"
    missing = [n for n in needles if n not in lines[0]]
    return f"error line lacks {missing}: {lines[0][:200]!r}" if missing else None


def rows(store: Path) -> Counter:
    """Every memory of the store as a multiset of its contents (ids aside: they are allocation order)."""
    db = sqlite3.connect(f"file:{store / 'store.sqlite'}?mode=ro", uri=True)
    try:
        found = db.execute("SELECT store, scale, t_start, t_end, vector, tvector, keyframe, text FROM entries")
        return Counter(found.fetchall())
    finally:
        db.close()


def row_diff(got: Counter, want: Counter) -> list[str]:
    """Rows missing from ``got`` and rows it has beyond ``want`` (duplicates included), counted by store."""
    out = []
    for what, diff in (("missing", want - got), ("extra", got - want)):
        by_store = Counter(f"{r[0]}@{r[1]}" if r[1] else r[0] for r in diff.elements())
        out += [f"{n} {what} {name} rows" for name, n in sorted(by_store.items())]
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _answer(out: subprocess.CompletedProcess) -> Any:
    """The comparable part of an ``ask --json`` answer, or the failure."""
    if out.returncode != 0:
        return f"failed: {out.stderr.strip()[-200:]}"
    got = json.loads(out.stdout.strip().splitlines()[-1])
    evidence = [
        (e["source"], e["t_start"], e["t_end"], e["score"], e.get("text"),
         e["keyframe"].split("/keyframes/", 1)[-1] if e.get("keyframe") else None)
        for e in got["evidence"]
    ]  # fmt: skip
    return {"answer": got["answer"], "found": got["found"], "evidence": evidence}


class Bench:
    """The reference store, its figures, and one method per fault returning its trials."""

    def __init__(self, work: Path, generate: Callable[..., Any], write_srt: Callable, seed: int = 12) -> None:
        self.work, self.rng, self.write_srt = work, random.Random(seed), write_srt
        self.video = work / "faults.mp4"
        if not self.video.is_file():
            manifest = generate(self.video, duration=MINUTES * 60, fps=5.0, size=(320, 180))
            self.video.with_suffix(".srt").write_text(manifest.to_srt())
            asked = [s.caption for s in manifest.scenes[1:4]] + [f"where is the {manifest.scenes[5].sign} sign"]
            (work / "questions.json").write_text(json.dumps(asked))
        self.questions = json.loads((work / "questions.json").read_text())
        self.srt = self.video.with_suffix(".srt")
        self.image = _frame_at(self.video, 125.0, work / "frame-125s.png")
        self.reference = self.fresh("reference")
        self.index_ok(self.reference)
        cli("ask", str(self.reference), self.questions[0])  # builds and saves the index files once
        self.ref_rows, self.ref_counts = rows(self.reference), self.counts(self.reference)
        self.ref_answers = self.answers(self.reference)
        if any(isinstance(a, str) or not a["evidence"] for a in self.ref_answers[0]):  # else failures compare equal
            raise RuntimeError(f"the reference store does not answer every question: {self.ref_answers[0]}")
        self.stderr: list[str] = []  # what the asks of the last comparison printed
        self.ref_keyframes = snapshot(self.reference / "keyframes")

    def fresh(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    def index_args(self, store: Path) -> list[str]:
        return ["index", str(self.video), "--store", str(store), "--subtitles", str(self.srt), "--json"]

    def index_ok(self, store: Path) -> dict[str, Any]:
        out = cli(*self.index_args(store))
        if out.returncode != 0:
            raise RuntimeError(f"vidmem index into {store} failed: {out.stderr.strip()[-400:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def counts(self, store: Path) -> dict[str, int] | str:
        out = cli("info", str(store), "--json")
        return json.loads(out.stdout)["memories"] if out.returncode == 0 else f"info failed: {out.stderr.strip()}"

    def answers(self, store: Path) -> tuple[list[Any], list[str]]:
        """Answers to every question (the image one last) and the stderr lines the asks printed."""
        got, stderr = [], []
        for args in [[q] for q in self.questions] + [["", "--image", str(self.image)]]:
            out = cli("ask", str(store), *args, "--json")
            got.append(_answer(out))
            stderr += out.stderr.strip().splitlines()
        return got, stderr

    def compare(self, store: Path, with_rows: bool = True) -> list[str]:
        """What differs from the reference: rows (when the store is this bench's own), counts, answers."""
        lost = row_diff(rows(store), self.ref_rows) if with_rows else []
        counts = self.counts(store)
        if counts != self.ref_counts:
            lost.append(f"counts {counts} != {self.ref_counts}")
        answers, self.stderr = self.answers(store)
        pairs = zip(self.questions + ["the image"], answers, self.ref_answers[0], strict=True)
        lost += [f"answer to {q!r} differs" for q, a, b in pairs if a != b]
        return lost

    def copy(self, name: str) -> Path:
        path = self.fresh(name)
        shutil.copytree(self.reference, path, ignore=shutil.ignore_patterns("locks"))
        return path

    # -- faults -----------------------------------------------------------------------------------

    def kill_and_resume(self) -> Trial:
        """``kill -9`` of ``vidmem index`` once a random number of clips is committed, then ``index`` again."""
        store = self.fresh("killed")
        target = self.rng.randrange(0, sum(1 for r in self.ref_rows.elements() if r[:2] == ("episodic", "clip")))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen(cli_cmd(*self.index_args(store)), env=env, cwd=REPO_ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        while proc.poll() is None and not (_lock_pid(store) == proc.pid and _committed(store) >= target):
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            return Trial(False, f"index finished before the kill at {target} clips")
        at, stale = _committed(store), _lock_pid(store) == proc.pid
        report = self.index_ok(store)
        lost = self.compare(store)
        if not stale:
            lost.append("no lock file naming the killed process was left to take over")
        return Trial(not lost, f"killed at {at} clips, stale lock taken over, {report['status']}", lost)

    def two_writers(self) -> Trial:
        """Two ``vidmem index`` of the same video into one new store, started at once."""
        store = self.fresh("two-writers")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        procs = [subprocess.Popen(cli_cmd(*self.index_args(store)), env=env, cwd=REPO_ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]  # fmt: skip
        outs = []
        for p in procs:
            stdout, stderr = p.communicate()
            outs.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
        refused = [i for i, o in enumerate(outs) if o.returncode != 0]
        lost = []
        if len(refused) == 2:
            lost.append("both writers failed")
        elif refused:
            other = procs[1 - refused[0]].pid
            wrong = one_error_line(outs[refused[0]], f"process {other}", self.video.name)
            lost += [f"refusal: {wrong}"] if wrong else []
        lost += self.compare(store)
        outcome = "the second refused naming the first's pid" if len(refused) == 1 else "one ran after the other"
        return Trial(not lost, outcome, lost)

    def many_cues(self) -> Trial:
        """A 25,000-cue subtitle file on a 20 s video."""
        clip = self.work / "short.mp4"
        if not clip.is_file():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(self.video), "-t", "20", "-c", "copy", str(clip)],
                           check=True)  # fmt: skip
        spans = [TextSpan(round(i * 19.0 / CUES, 3), round(i * 19.0 / CUES, 3) + 0.5, f"q{i}", "subtitle")
                 for i in range(CUES)]  # fmt: skip
        srt = self.write_srt(spans, self.work / "many.srt")
        store = self.fresh("many-cues")
        start = time.perf_counter()
        out = cli("index", str(clip), "--store", str(store), "--subtitles", str(srt), "--json")
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            return Trial(False, "index failed", [out.stderr.strip()[-300:]], seconds)
        got = json.loads(out.stdout)["entries"].get("text@subtitle", 0)
        with_vectors = sum(1 for r in rows(store).elements() if r[:2] == ("text", "subtitle") and r[5] is not None)
        hit = cli("ask", str(store), f"q{CUES - 1}", "--json")
        first = json.loads(hit.stdout)["evidence"][0] if hit.returncode == 0 else {}
        lost = [f"{CUES - got} cues not stored"] if got != CUES else []
        lost += [f"{CUES - with_vectors} cues without a text vector"] if with_vectors != CUES else []
        lost += [] if first.get("text") == f"q{CUES - 1}" else [f"the last cue is not found: {first}"]
        return Trial(not lost, f"indexed in {seconds:.1f} s", lost, seconds)

    def foreign_sqlite(self) -> Trial:
        """``info``, ``ask`` and ``index`` pointed at a folder whose store.sqlite is another program's."""
        folder = self.fresh("foreign")
        folder.mkdir()
        db = sqlite3.connect(folder / "store.sqlite")
        db.execute(f"PRAGMA journal_mode={self.rng.choice(['delete', 'wal'])}")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO notes(body) VALUES (?)", [(f"note {i}",) for i in range(200)])
        db.commit()
        db.close()
        before = snapshot(folder)
        runs = {"info": ["info", str(folder)], "ask": ["ask", str(folder), "what is in the notes?"],
                "index": self.index_args(folder)}  # fmt: skip
        lost = [
            f"{name}: {w}" for name, args in runs.items() if (w := one_error_line(cli(*args), "not a vidmem store"))
        ]
        if snapshot(folder) != before:
            lost.append("the foreign folder changed")
        return Trial(not lost, "refused by info, ask and index; files byte-identical", lost)

    def damaged_index(self, how: str) -> Trial:
        """Bytes flipped in an index file (``flip``), or one index file copied over another (``swap``)."""
        store = self.copy(f"damaged-{how}")
        files = sorted((store / "index").glob("*.faiss"), key=lambda p: p.name)
        if len(files) < 2:
            return Trial(False, f"only {len(files)} index file(s) to damage")
        target = self.rng.choice(files)
        if how == "flip":
            data = bytearray(target.read_bytes())
            start = self.rng.randrange(len(data) // 4, len(data) - 64)  # past the header: the stored vectors
            for pos in range(start, start + 64, 3):
                data[pos] ^= 0x5A
            target.write_bytes(bytes(data))
        else:
            shutil.copy(self.rng.choice([f for f in files if f != target]), target)
        lost = self.compare(store, with_rows=False)  # the asks (they load what their questions need)
        warned = any(line.startswith("warning:") and target.name in line for line in self.stderr)
        want, got = _search(self.reference, target.stem), _search(store, target.stem)
        loaded_warned = any(target.name in w and "checksum" in w for w in got["warnings"])
        if warned == loaded_warned:  # exactly one warning: the asks' load, or (not needed by them) this one
            lost.append(f"checksum warnings for {target.name}: asks {warned}, load {got['warnings']}")
        if (got["ids"], got["scores"]) != (want["ids"], want["scores"]):
            lost.append(f"{target.stem} search differs")
        by = "ask" if warned else "loading it (no question needed it)"
        return Trial(not lost, f"{target.name}: warning from {by}, rebuilt from SQLite", lost)

    def read_only(self) -> Trial:
        """The store (its index files deleted, so they must be rebuilt) behind a read-only bind mount."""
        store = self.copy("read-only")
        shutil.rmtree(store / "index")
        before = snapshot(store)
        mount = self.fresh("read-only-mount")
        mount.mkdir()
        made = _run(["mount", "--bind", str(store), str(mount)])
        made = made and _run(["mount", "-o", "remount,ro,bind", str(mount)])
        if not made:
            _run(["umount", str(mount)])
            return Trial(True, "skipped: mount --bind -o ro is not allowed here")
        try:
            lost = self.compare(mount, with_rows=False)
        finally:
            _run(["umount", str(mount)])
        lost += ["the store changed"] if snapshot(store) != before else []
        return Trial(not lost, f"answered; {_warnings(self.stderr)}", lost)

    def full_disk_ask(self) -> Trial:
        """``ask`` on a store whose index files must be rebuilt, on a tmpfs filled to the last byte."""
        store = self.copy("full-disk")
        shutil.rmtree(store / "index")
        mount = self.fresh("full-disk-mount")
        mount.mkdir()
        size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) + (4 << 20)
        if not _run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)]):
            return Trial(True, "skipped: mount -t tmpfs is not allowed here")
        try:
            shutil.copytree(store, mount / "store")
            with open(mount / "filler", "wb") as filler:  # every byte left, so no index file can be saved
                try:
                    while True:
                        filler.write(b"\0" * (1 << 16))
                        filler.flush()
                except OSError:
                    pass
            lost = self.compare(mount / "store", with_rows=False)
            left = [p.name for p in (mount / "store").rglob("*.tmp")]  # a half-written index file
            lost += [f"temporary files left: {left}"] if left else []
        finally:
            _run(["umount", str(mount)])
        return Trial(not lost, f"answered; {_warnings(self.stderr)}", lost)

    def deleted_keyframes(self) -> Trial:
        """The keyframes/ folder deleted: ``info`` must report it and ``index`` restore it."""
        store = self.copy("no-keyframes")
        shutil.rmtree(store / "keyframes")
        info = cli("info", str(store), "--json")
        n = len(self.ref_keyframes)
        lost = []
        if info.returncode != 0 or json.loads(info.stdout).get("missing_keyframes") != n:
            lost.append(f"info does not report {n} missing keyframes: {info.stdout[-200:]}")
        if not any(line.startswith("warning:") for line in info.stderr.splitlines()):
            lost.append("info prints no warning")
        report = self.index_ok(store)
        if report.get("restored_keyframes") != n:
            lost.append(f"index restored {report.get('restored_keyframes')} of {n}")
        if snapshot(store / "keyframes") != self.ref_keyframes:
            lost.append("restored keyframes differ from the originals")
        lost += self.compare(store)
        return Trial(not lost, f"info reported {n} missing; index restored them", lost)

    def oversized_image(self) -> Trial:
        """``ask --image`` with a PNG whose header declares 32768x32768 pixels (3 GB decoded)."""
        image = oversized_png(self.work / "bomb-32768.png")
        start = time.perf_counter()
        out = cli("ask", str(self.reference), "", "--image", str(image))
        seconds = time.perf_counter() - start
        wrong = one_error_line(out, str(image), "declares")
        return Trial(wrong is None, f"refused in {seconds:.2f} s", [wrong] if wrong else [], seconds)


def _lock_pid(store: Path) -> int | None:
    """The pid the store's (one) source lock file names, if there is one."""
    for lock in (store / "locks").glob("*.lock") if (store / "locks").is_dir() else []:
        try:
            return int(json.loads(lock.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def _committed(store: Path) -> int:
    """Clips committed so far (0 before the first checkpoint)."""
    try:
        db = sqlite3.connect(f"file:{store / 'store.sqlite'}?mode=ro", uri=True, timeout=0.1)
        try:
            row = db.execute("SELECT next_clip FROM sources").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def _search(store: Path, group: str) -> dict[str, Any]:
    """``_SEARCH`` of ``group`` in ``store``: ids, scores and the warnings its load gave."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", _SEARCH, str(store), group], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"ids": None, "scores": None, "warnings": [f"failed: {out.stderr.strip()[-200:]}"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _warnings(stderr: list[str]) -> str:
    """The distinct ``warning:`` lines, numbers and paths aside (one per index file), or 'no warning'."""
    kinds = {re.sub(r"\S*/\S*", "FILE", line[9:]).split(";")[0] for line in stderr if line.startswith("warning:")}
    return "warning: " + " / ".join(sorted(kinds)) if kinds else "no warning"


def _run(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


FAULTS: dict[str, Callable[[Bench], Trial]] = {
    "kill -9 of index, then resume": Bench.kill_and_resume,
    "two writers of one video (stale lock incl.)": Bench.two_writers,
    f"{CUES:,}-cue subtitle file": Bench.many_cues,
    "foreign sqlite as store": Bench.foreign_sqlite,
    "flipped bytes in an index file": lambda b: b.damaged_index("flip"),
    "index file copied over another": lambda b: b.damaged_index("swap"),
    "read-only store (ro bind mount)": Bench.read_only,
    "full disk during ask (tmpfs)": Bench.full_disk_ask,
    "deleted keyframes/ folder": Bench.deleted_keyframes,
    "oversized PNG header for --image": Bench.oversized_image,
}
ONCE = {f"{CUES:,}-cue subtitle file"}  # slow (tens of seconds) and deterministic: tried once


def run(work: Path, generate: Callable[..., Any], write_srt: Callable, trials: int = 3) -> dict[str, Any]:
    """Every fault ``trials`` times (the slow deterministic ones once); one row per fault."""
    start = time.perf_counter()
    bench = Bench(work, generate, write_srt)
    table = []
    for name, fault in FAULTS.items():
        tries = [fault(bench) for _ in range(1 if name in ONCE else trials)]
        lost = sorted({item for t in tries for item in t.lost})
        timed = [t.seconds for t in tries if t.seconds is not None]
        table.append({
            "fault": name, "trials": len(tries), "held": sum(t.ok for t in tries),
            "outcome": "; ".join(dict.fromkeys(t.outcome for t in tries)),
            "lost": "nothing" if not lost and all(t.ok for t in tries) else "; ".join(lost) or "see outcome",
            **({"median_s": round(statistics.median(timed), 2)} if timed else {}),
        })  # fmt: skip
    return {"video": {"minutes": MINUTES, "size": [320, 180], "fps": 5.0, "settings": "index defaults + subtitles"},
            "reference_counts": bench.ref_counts, "faults": table,
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def print_table(result: dict[str, Any]) -> None:
    print(f"{'fault':<44} {'trials':>6}  {'held':>4}  outcome | lost")
    for row in result["faults"]:
        print(f"{row['fault']:<44} {row['trials']:>6}  {row['held']:>4}  {row['outcome']} | lost: {row['lost']}")
    print(f"({result['seconds']} s in all)")


def run_cli(args, generate: Callable[..., Any], write_srt: Callable) -> dict[str, Any]:
    """``vidmem bench faults`` entry: ``generate`` and ``write_srt`` come from ``demos``, handed in by the CLI."""
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-bench-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    result = run(work, generate, write_srt, args.trials)
    if not args.json:
        print_table(result)
    return result
