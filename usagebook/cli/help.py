"""The CLI's help in plain words: option types shown as TEXT, INTEGER, PATH (typer's own help
shows Python type names such as `<str>`, and `<bool>` beside every flag).

`PlainGroup` is the class of every command group; each command it hands out is given the same
plain help, so a command added later needs nothing of its own.
"""

from __future__ import annotations

from typing import Any

from typer import _click as click
from typer.core import TyperCommand, TyperGroup

_WORDS = {"str": "TEXT", "int": "INTEGER", "int range": "INTEGER", "float": "NUMBER",
          "float range": "NUMBER", "path": "PATH", "file": "PATH", "datetime": "DATE-TIME"}


def _plain_word(param: click.Parameter, ctx: click.Context) -> str:
    if getattr(param, "is_flag", False):
        return ""  # a flag takes no value: nothing to name
    label = str(param.display_type(ctx)).strip("<>")  # type: ignore[attr-defined]
    if "|" in label:
        return f"[{label}]"  # a choice lists its values as they are typed
    return _WORDS.get(label, label.upper())


def _plainly(params: list[click.Parameter], ctx: click.Context) -> list[click.Parameter]:
    for param in params:
        if hasattr(param, "display_type_rich") and not hasattr(param, "_usagebook_plain"):
            word = _plain_word(param, ctx)
            if param.param_type_name == "argument" and param.metavar is None and param.name:
                param.metavar = param.name.upper()  # the usage line: FILE, as click writes it
            # The instance's own method shadows typer's, for this parameter only.
            param.display_type_rich = lambda ctx, word=word: word
            param._usagebook_plain = True  # type: ignore[attr-defined]
    return params


class PlainCommand(TyperCommand):
    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _plainly(super().get_params(ctx), ctx)


class PlainGroup(TyperGroup):
    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _plainly(super().get_params(ctx), ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if type(command) is TyperCommand:
            command.__class__ = PlainCommand  # same object, one method more
        return command
