"""``vidmem bench server``'s code path on a small run: every figure is there and consistent."""

from __future__ import annotations

import pytest

from eval.bench_server import run


@pytest.mark.slow
def test_bench_server_reports_latency_throughput_batching_and_soak():
    result = run(trained=None, requests=24, soak_requests=60, max_wait_ms=2.0, clients=(1, 3))
    tiny = result["policies"]["tiny"]
    assert set(tiny) == {"batching", "one_at_a_time"}
    for mode, rows in tiny.items():
        assert [r["clients"] for r in rows] == [1, 3]
        for r in rows:
            assert r["requests"] == r["clients"] * max(10, 24 // r["clients"])
            assert 0 < r["p50_ms"] <= r["p99_ms"] and r["throughput_rps"] > 0
            assert r["client_cpu_cores"] >= 0 and r["server_cpu_cores"] > 0
            if mode == "one_at_a_time":
                assert r["mean_batch"] == 1.0
    soak = result["soak"]
    assert soak["requests"] == 56 and soak["live_episodes"] == 8  # 60 // 8 clients * 8
    assert soak["rss_start_mb"] > 0 and soak["rss_end_mb"] > 0
    assert "no trained checkpoint" in result["trained_note"]
    assert result["goals"]["soak_rss_growth_pct"]["value"] == soak["rss_growth_pct"]
