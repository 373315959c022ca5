"""`python -m bench <name> [options]`: runs one benchmark (see `python -m bench --help`)."""

import argparse
import importlib

BENCHMARKS = {
    "abuse": "bench.abuse",
    "cleanup": "bench.cleanup",
    "coldstart": "bench.coldstart",
    "http": "bench.http",
    "ingest": "bench.ingest",
    "load": "bench.load",
    "quality": "bench.quality",
    "retrieve": "bench.retrieve",
    "storage": "bench.storage",
    "stream": "bench.stream",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    args, rest = parser.parse_known_args()
    importlib.import_module(BENCHMARKS[args.name]).main(rest)


if __name__ == "__main__":
    main()
