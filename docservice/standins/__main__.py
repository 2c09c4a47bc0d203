"""`python -m docservice.standins parser|embeddings [--host H] [--port N]`."""

from __future__ import annotations

import argparse

from docservice.standins import NAMES, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one stand-in in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m docservice.standins")
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    serve(args.name, args.host, args.port)


if __name__ == "__main__":
    main()
