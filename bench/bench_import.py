"""How long `import mistral_nb` takes in a fresh interpreter, against what it builds on.

    python bench/bench_import.py [--runs 7]

Each figure is the median wall time of a new `python -c "import X"` process, minus
the interpreter's own start-up (`python -c "pass"`), measured in the same run. The
target (issue 8) is `import mistral_nb` in at most 1 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = timed("pass", args.runs)
    rows = {
        "pandas": timed("import pandas", args.runs) - base,
        "pipecat service": timed("import pipecat.services.mistral.llm", args.runs) - base,
        "mistral_nb": timed("import mistral_nb", args.runs) - base,
        "mistral_nb + first Session": timed(
            "import mistral_nb as m; m.Session(api_key='k', base_url='http://127.0.0.1:9/v1')"
            ".close()",
            args.runs,
        )
        - base,
    }
    for name, seconds in rows.items():
        print(f"{name:28s} {seconds:6.3f} s")
    print(f"mistral_nb / pandas: {rows['mistral_nb'] / rows['pandas']:.2f}x (target: <= 1 s)")


if __name__ == "__main__":
    main()
