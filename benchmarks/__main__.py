"""``python -m benchmarks``: the whole suite, writing docs/benchmarks.md (``make bench``).

``--quick`` runs every benchmark at tiny sizes (the smoke test's scale); ``--only`` picks
some of them; ``--output`` is where the report goes and ``--json`` where the raw figures go.
Each benchmark module also runs alone: ``python -m benchmarks.crawl --quick``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import crawl, distributed, extraction, foreign, memory, profiling, queries, reparse_bench, store_bench
from benchmarks.common import BenchError, Context, Figure, Result, Sizes, machine
from benchmarks.report import render

#: In running order: reparse uses the crawl's archive, memory its N-article runs.
BENCHMARKS: dict[str, Callable[[Context], Result]] = {
    "crawl": crawl.run,
    "extraction": extraction.run,
    "foreign": foreign.run,
    "storage": store_bench.run,
    "memory": memory.run,
    "reparse": reparse_bench.run,
    "queries": queries.run,
    "profile": profiling.run,
    "distributed": distributed.run,
}


def run_suite(sizes: Sizes, only: list[str] | None = None, workdir: Path | None = None) -> list[Result]:
    results = []
    temp = None if workdir else tempfile.mkdtemp(prefix="informburo-bench-")
    ctx = Context(sizes, workdir or Path(temp or "."))
    try:
        for key, bench in BENCHMARKS.items():
            if only and key not in only:
                continue
            print(f"[bench] {key} …", file=sys.stderr, flush=True)
            if key == "memory" and (not only or "queries" in only):
                queries.prepare(ctx)  # build the query database on the other core while memory only measures RSS
            if key == "reparse":
                queries.finish_build(ctx)  # never overlap a timed benchmark
            start = time.perf_counter()
            try:
                result = bench(ctx)
            except (BenchError, OSError, ValueError, RuntimeError) as exc:
                traceback.print_exc()
                result = Result(key, key, [Figure(f"{key}: could not run", None, "", "", False, str(exc)[:500])])
            result.seconds = time.perf_counter() - start
            print(f"[bench] {key}: {result.seconds:.1f} s", file=sys.stderr, flush=True)
            for fig in result.figures:
                print(f"    {fig.name}: {fig.value} {fig.unit} ({fig.target}) {fig.passed}", file=sys.stderr)
            results.append(result)
    finally:
        ctx.close()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the smoke test's scale, in seconds")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--output", default=None, help="the Markdown report (make bench: docs/benchmarks.md)")
    parser.add_argument("--json", default=None, help="also write every figure and raw number as JSON here")
    parser.add_argument("--workdir", default=None, help="keep databases and pages here (default: a temp dir)")
    args = parser.parse_args(argv)
    only = [k.strip() for k in args.only.split(",")] if args.only else None
    unknown = set(only or []) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    sizes = Sizes.quick_sizes() if args.quick else Sizes()
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    start = time.perf_counter()
    results = run_suite(sizes, only, Path(args.workdir) if args.workdir else None)
    total = time.perf_counter() - start
    info = machine()
    if args.output:
        Path(args.output).write_text(render(results, info, sizes, command.strip(), total), encoding="utf-8")
        print(f"[bench] wrote {args.output}", file=sys.stderr)
    if args.json:
        payload = {
            "machine": info,
            "command": command.strip(),
            "total_seconds": total,
            "quick": sizes.quick,
            "results": [r.as_dict() for r in results],
        }
        Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(f"[bench] total {total:.1f} s", file=sys.stderr)
    missed = [f.name for r in results for f in r.figures if f.passed is False]
    print(f"[bench] {len(missed)} target(s) missed" + (": " + "; ".join(missed) if missed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
