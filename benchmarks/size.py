"""Prints ruby.wasm's size against the official npm build, where its bytes are, and what each
wasm-opt step saves.

    python benchmarks/size.py [--ruby 3.3] [--profile full]

- Reference: `@ruby/3.3-wasm-wasi@2.10.1`'s dist/ruby.wasm (same extension set, stdlib not
  packed), the package pinned in recipes/official-3.3.toml, fetched from the machine's npm
  registry and verified as every input is.
- Where the bytes are: the artifact's build is linked again without wasm-opt, with a linker
  map, and its code is summed by component (Ruby, each C library, each extension).
- What each step saves: that module through CRuby's default wasm-opt pipeline, then through
  ours one step at a time; the last line must equal the artifact's size.
The OpenSSL features left out (recipes/openssl.toml) are not measured again here, which would
take two OpenSSL builds; the recipe's comment gives the figure.

Needs a built artifact (doit ruby_wasm). Takes about 15 minutes on 2 cores (one Asyncify a line).
"""
from __future__ import annotations

import argparse
import collections
import gzip
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolchain.compile import cruby  # noqa: E402
from toolchain.run.official import RUBY_WASM, official_wasm, package_name  # noqa: E402
from toolchain.compile.link import relink_command  # noqa: E402
from toolchain.publish.release import wasm_sections  # noqa: E402
from toolchain.run.runner import DEFAULT_PROFILE, artifact_dir  # noqa: E402

GOAL_RATIO = 0.8
COMMON = ["--strip-dwarf", "--strip-producers", "--pass-arg=asyncify-ignore-imports"]
# Each step is one or more wasm-opt runs, in order; the last is the build's own POSTLINK.
STEPS = [
    ("CRuby's default (--asyncify -O2)", [["--asyncify", "-O2", *COMMON]]),
    ("-Oz instead of -O2", [["--asyncify", "-Oz", *COMMON]]),
    ("then -Oz again, a separate run", [["--asyncify", "-Oz", *COMMON], ["-Oz", "--strip-dwarf", "--strip-producers"]]),
    ("-O3 instead of -O2", [["--asyncify", "-O3", *COMMON]]),
    ("-O3 -g, names stripped after (ours: faster Fiber switches)",
     [["--asyncify", *cruby.WASMOPTFLAGS.split(), "--pass-arg=asyncify-ignore-imports"], [cruby.STRIP_NAMES]]),
]


def sizes(path: Path) -> str:
    data = path.read_bytes()
    return f"{len(data):>12,} bytes {len(gzip.compress(data, 6)):>12,} gzipped"


def code_by_component(linker_map: Path) -> collections.Counter:
    """Bytes of code per input, from wasm-ld's map: Ruby's core, each library, each extension."""
    code, totals = False, collections.Counter()
    for line in linker_map.read_text().splitlines():
        fields = line.split()
        if len(fields) == 4 and re.fullmatch(r"[A-Z]+|\.\w+", fields[3]):
            code = fields[3] == "CODE"
        elif code and len(fields) == 4 and ":(" in fields[3]:
            origin = fields[3].split(":(")[0]
            library = re.search(r"/lib-([a-z0-9]+)-", origin)
            extension = re.match(r"ext/([^/]+)/", origin)
            name = (f"library {library.group(1)}" if library else f"extension {extension.group(1)}" if extension
                    else "ruby" if "libruby-static" in origin or origin.endswith("main.o")
                    else "encodings" if origin.startswith("enc/") else "wasi-libc")
            totals[name] += int(fields[2], 16)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruby", default="3.3")
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    options = parser.parse_args()
    ours = artifact_dir(options.ruby, options.profile) / "ruby.wasm"
    build = cruby.plan(options.ruby, options.profile, "auto", fetch_missing=False, quiet=True)
    if not ours.exists() or build is None:
        sys.exit(f"No artifact at {ours}: run `doit ruby_wasm --profile {options.profile}` first.")
    reference = official_wasm("3.3", RUBY_WASM)
    print(f"{package_name('3.3'):<36}{sizes(reference)}")
    print(f"{'ours (' + options.profile + ')':<36}{sizes(ours)}")
    print(f"{'ratio':<36}{ours.stat().st_size / reference.stat().st_size:>12.3f} (goal <= {GOAL_RATIO})")
    with tempfile.TemporaryDirectory() as scratch:
        linked, linker_map = Path(scratch) / "linked.wasm", Path(scratch) / "linked.map"
        subprocess.run(relink_command(build, linked, postlink=":", ldflags=f"-Xlinker -Map={linker_map}"),
                       cwd=build.build_dir / "obj", env=build.phases.env, check=True, capture_output=True)
        sections = dict(wasm_sections(linked.read_bytes()))
        print(f"\nlinked, before wasm-opt: {linked.stat().st_size:,} bytes; code by component:")
        for name, size in code_by_component(linker_map).most_common():
            print(f"  {name:<34}{size:>12,}")
        print(f"  ({len(sections)} sections)\nwasm-opt pipelines on the linked module:")
        baseline = None
        for title, runs in STEPS:
            out = Path(scratch) / "out.wasm"
            for index, flags in enumerate(runs):
                subprocess.run([str(build.toolchain.driver / "wasm-opt"), *flags, str(linked if index == 0 else out),
                                "-o", str(out)], check=True)
            size = out.stat().st_size
            baseline = baseline or size
            saved = f"  saves {baseline - size:,} on CRuby's" if size != baseline else ""
            print(f"  {title:<34}{sizes(out)}{saved}")
        print(f"  {'(the artifact, for comparison)':<34}{sizes(ours)}")


if __name__ == "__main__":
    main()
