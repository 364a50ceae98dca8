"""The README's LLM figure: llm-bursty's TTFT p95, replicas and KV-cache use per platform
over the three hours (``reports/screenshots/llm-bursty.png``).

    .venv/bin/python scripts/llm_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import capsim

OUT = Path(__file__).resolve().parent.parent / "reports" / "screenshots" / "llm-bursty.png"


def main() -> None:
    result = capsim.run(capsim.load_scenario("llm-bursty"))
    frame = result.timeseries
    chat = frame[frame["workload"] == "chat"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for name, rows in chat.groupby("platform", sort=False):
        minutes = rows["time_s"] / 60.0
        axes[0].plot(minutes, rows["ttft_p95_ms"] / 1000.0, label=name)
        axes[1].step(minutes, rows["replicas_ready"], where="post", label=name)
        axes[2].plot(minutes, rows["kv_cache_usage_pct"], label=name)
    axes[0].axhline(5.0, color="black", linestyle="--", linewidth=1, label="SLO: p95 TTFT 5 s")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("TTFT p95 (s)")
    axes[1].set_ylabel("replicas ready (L4 GPUs)")
    axes[2].set_ylabel("KV cache used (%)")
    axes[2].set_xlabel("minutes since the start")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("llm-bursty: the Azure conversation trace on vLLM / L4 replicas")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=90, metadata={"Software": None})
    print(OUT)


if __name__ == "__main__":
    main()
