"""Benchmarks: `python bench/run.py SUITE [--json]`; `all` runs every suite.

Each suite measures against its baseline in the same run and prints a table,
or with --json one JSON object as its last line.
"""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = [p.stem for p in sorted((ROOT / "bench").glob("bench_*.py"))]


def main() -> int:
    names = [s.removeprefix("bench_") for s in SUITES]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suite", choices=[*names, "all"])
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, rest = parser.parse_known_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    import django

    django.setup()

    chosen = names if args.suite == "all" else [args.suite]
    if not chosen:
        print("no benchmark suites are defined yet")
        return 0
    results = {}
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        results[name] = module.run(rest)
        if not args.json:
            print(f"\n== {name}")
            for key, value in results[name].items():
                print(f"  {key:32} {value}")
    if args.json:
        print(json.dumps(results[chosen[0]] if len(chosen) == 1 else results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
