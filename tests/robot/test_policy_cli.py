"""``vidmem train-policy`` and the policy benchmark's code paths (figures are printed, never asserted)."""

from __future__ import annotations

import json

from eval.bench_policy import format_report, latency_table
from robot.policies import load_policy
from vidmem.cli import main


def test_train_policy_cli_writes_a_loadable_checkpoint(tmp_path, capsys):
    out = tmp_path / "cue.pt"
    argv = [
        "train-policy",
        "--env",
        "cue_reach",
        "--agent",
        "nomemory",
        "--episodes",
        "3",
        "--epochs",
        "1",
        "--dagger-rounds",
        "0",
    ]
    code = main([*argv, "--seed", "2", "--out", str(out), "--eval-episodes", "2", "--no-progress", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(out) and result["episodes"] == 3 and result["seed"] == 2
    assert 0.0 <= result["eval_success"] <= 1.0 and result["eval_episodes"] == 2
    policy = load_policy(out, expect="nomemory")
    assert policy.trained and policy.config.head == "diffusion"


def test_train_policy_cli_bad_names_are_one_line_errors(capsys):
    assert main(["train-policy", "--env", "cue_reach", "--agent", "bnak"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown policy 'bnak'; did you mean 'bank'") and err.count("\n") == 1
    assert main(["train-policy", "--env", "cue_reech", "--agent", "bank"]) == 2
    assert "did you mean 'cue_reach'" in capsys.readouterr().err


def test_latency_table_covers_each_memory_and_length():
    table = latency_table(["bank", "chunks", "nomemory"], [3, 6], max_chunks=2)
    assert set(table) == {"bank", "chunks", "nomemory"} and set(table["bank"]) == {"3", "6"}
    row = table["chunks"]["6"]
    assert 0 < row["p50_ms"] <= row["p99_ms"] and row["state_bytes"] > 0
    assert table["nomemory"]["3"]["state_bytes"] == 0
    assert "chunks" in format_report({"latency": table})
