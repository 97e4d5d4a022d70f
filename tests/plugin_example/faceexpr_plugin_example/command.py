"""``faceexpr example-hello``: a subcommand contributed by the plugin."""

from __future__ import annotations

import argparse
from typing import ClassVar

from faceexpr import Command


class HelloCommand(Command):
    """``faceexpr example-hello [--name NAME]``: greet and list this plugin's backends."""

    name: ClassVar[str] = "example-hello"
    help: ClassVar[str] = "say hello from faceexpr-plugin-example"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", default="world", help="whom to greet")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from faceexpr import backends

        table = backends()
        mine = table[table["module"].str.startswith(__name__.rpartition(".")[0])]
        print(f"hello, {args.name}, from faceexpr-plugin-example")
        for row in mine.itertuples():
            print(f"  {row.stage}: {row.name}")
        return 0
