"""The actions behind dodo.py's tasks: thin calls into the stages, with user errors shown as text."""
from __future__ import annotations

import functools
import shlex
from collections.abc import Callable

from doit.exceptions import TaskFailed

from . import product, providers
from .errors import UserError
from .run import Artifact, Mount, RubyWasm, artifact_dir

PARAMS = {
    "ruby": {"name": "ruby", "long": "ruby", "default": "3.3", "help": "Ruby series (a recipes/ruby-<series>.toml)"},
    "profile": {"name": "profile", "long": "profile", "default": "default",
                "help": "extension profile from the Ruby recipe: minimal or default"},
    "toolchain": {"name": "toolchain", "long": "toolchain", "default": "auto",
                  "help": f"toolchain provider: {', '.join(providers.PROVIDERS)}"},
    "args": {"name": "args", "long": "args", "short": "a", "default": "-e 'puts RUBY_VERSION'",
             "help": "arguments for ruby, as one shell-quoted string"},
    "dir": {"name": "dir", "long": "dir", "type": list, "default": [],
            "help": "host directory to grant the wasm (HOST[::GUEST]); repeatable"},
}


def reporting_user_errors(action: Callable[..., object]) -> Callable[..., object]:
    """Turn a UserError into doit's TaskFailed, which prints the message without a traceback."""
    @functools.wraps(action)
    def wrapper(*args, **kwargs):
        try:
            return action(*args, **kwargs)
        except UserError as error:
            return TaskFailed(str(error))
    return wrapper


@reporting_user_errors
def build_ruby_wasm(ruby: str, profile: str, toolchain: str) -> None:
    product.build_ruby_wasm(ruby, profile, toolchain)


def ruby_wasm_uptodate(task, values) -> bool:
    options = task.options
    try:
        return product.ruby_wasm_is_current(options["ruby"], options["profile"], options["toolchain"])
    except UserError:
        return False  # the action will run and report the problem properly


@reporting_user_errors
def prepare_toolchain(toolchain: str) -> None:
    chosen = providers.resolve(toolchain)
    print(f"{chosen.provider}: {chosen.identity}\n  CC={chosen.cc}\n  sysroot={chosen.sysroot}\n"
          f"  wasm-opt={chosen.wasm_opt}")


@reporting_user_errors
def run_ruby(ruby: str, profile: str, args: str, dir: list[str]) -> bool:
    runner = RubyWasm(Artifact(artifact_dir(ruby, profile)))
    result = runner.run(shlex.split(args), mounts=[Mount.parse(spec) for spec in dir])
    if result.trap:
        raise UserError(f"ruby.wasm trapped: {result.trap}")
    if result.exit_code != 0:
        raise UserError(f"ruby exited with status {result.exit_code}.")
    return True
