"""Verification plans (verification/<name>.toml): which test files to run, and which tests are
known to fail under WASI, each with a category and a reason. A Ruby series' plan
(ruby-<series>.toml) lists test-all files under [test_all] and ruby/spec's under [ruby_spec],
and under [[not_run]] the files or directories among them that cannot run under WASI, each
with its reason; a gem's (gem-<name>.toml) lists its
own test files under [minitest], with the gems those tests need (deps) and the directories of
the gem's tree its tests expect on the load path (load_path, as its Rakefile's test task sets).
A series' plan also lists the endurance suite's programs (verification/endurance/) under
[endurance], with the counts each runs at and the bound on memory growth between them.

A failure not listed is unexpected. A listed test that passes is reported as fixed, and
strict mode fails on it, so the list cannot quietly go stale.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import UserError
from ..paths import PROJECT_ROOT
from .suites import SUITES, EndurancePlan, EnduranceProgram, TestResult

PLANS_DIR = PROJECT_ROOT / "verification"
ENDURANCE_DIR = PLANS_DIR / "endurance"
# The reason categories of known failures, [[not_run]] and [[excluded]] entries (the one list the
# plans, triage and docs/verification.md refer to). process/spawn: a child process the bridge cannot serve (one
# talked to while it runs, or not a Ruby); fork, signal and shell: what the issue of child
# processes leaves to the host OS. omitted: a feature this build leaves out on purpose (its recipe
# says why), not a WASI limit. layout: the test assumes CRuby's source tree around it (lib/ beside
# test/, paths that sort as in a checkout), where the artifact runs its installed library and the
# tree is granted at /src. box: what a pre-initialized box fixes at build time (its start-up,
# RubyGems among it), listed in verification/box-ruby-<series>.toml for the runs against a box only.
CATEGORIES = ("thread", "ractor", "process/spawn", "fork", "signal", "shell", "socket", "io-reopen",
              "wasm-limit", "omitted", "layout", "box", "bug")
ENTRY_FIELDS = {"suite", "file", "test", "reason", "why"}
# A known failure may hold only for some of the series' profiles (`profiles = ["default"]`), when
# what another profile installs makes the test pass there; without it, it holds for every profile.
OPTIONAL_ENTRY_FIELDS = {"profiles"}
NOT_RUN_FIELDS = ENTRY_FIELDS - {"test"}
SPEC_ROOT = "spec/"  # by_extension paths under it select ruby/spec files, the others test-all's


@dataclass(frozen=True)
class KnownFailure:
    suite: str
    file: str
    test: str
    reason: str
    why: str
    profiles: tuple[str, ...] = ()  # the profiles it is known on; () for all

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.suite, self.file, self.test)

    def holds_for(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles


@dataclass(frozen=True)
class NotRun:
    """A test file, or a directory of them, that cannot run under WASI at all."""
    suite: str
    file: str
    reason: str
    why: str

    def covers(self, file: str) -> bool:
        return is_under(file, self.file)


def is_under(file: str, path: str) -> bool:
    """Whether the file is the path itself or lies in the directory it names."""
    return file == path or file.startswith(path.rstrip("/") + "/")


def path_prefixes(file: str) -> list[str]:
    """The file and every directory above it: a/b/c.rb, a/b, a."""
    parts = file.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


@functools.cache
def files_below(source: Path, path: str, patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The test files under a directory of a source tree, relative to the tree. Source trees are
    never changed once unpacked, and every key and run of a verification asks for the same ones."""
    return tuple(sorted({p.relative_to(source).as_posix() for pattern in patterns for p in (source / path).rglob(pattern)}))


@dataclass(frozen=True)
class Plan:
    path: Path
    test_files: list[str]  # test-all's files or directories (every test_*.rb below them)
    known: dict[tuple[str, str, str], KnownFailure]
    # test-all tests not run at all, by file: regexps of Class#method. Only for tests that leave
    # the wasm process unusable for every test after them; each says why in the plan.
    excluded: dict[str, list[str]]
    # test files or directories that run only when the artifact links the extension
    by_extension: dict[str, list[str]]
    test_deps: list[str]  # gem recipes the tests need on their load path (minitest)
    load_path: list[str]  # directories of the tested tree on every test file's load path
    endurance: EndurancePlan | None = None
    spec_files: list[str] = field(default_factory=list)  # ruby/spec files or directories
    not_run: list[NotRun] = field(default_factory=list)
    minitest_files: list[str] = field(default_factory=list)  # a gem's own tests, run with minitest

    def for_profile(self, profile: str) -> Plan:
        """The plan as it judges an artifact of one profile of the series (or a box or gem on it)."""
        return replace(self, known={key: entry for key, entry in self.known.items() if entry.holds_for(profile)})

    def selection(self, extensions: tuple[str, ...], source: Path, suite: str = "test-all") -> list[str]:
        """The test files of a suite for an artifact with these extensions, directories
        expanded: the suite's files and its by_extension paths, less the by_extension paths of
        extensions not linked and what the plan does not run."""
        paths, patterns = (self.spec_files, ("*_spec.rb",)) if suite == "ruby-spec" else \
            (self.minitest_files, ("test_*.rb", "*_test.rb")) if suite == "minitest" else \
            (self.test_files, ("test_*.rb", "*_test.rb"))  # test-all's own runner takes both
        own = {extension: [p for p in listed if p.startswith(SPEC_ROOT) == (suite == "ruby-spec")]
               for extension, listed in self.by_extension.items()} if suite != "minitest" else {}
        left_out = {path.rstrip("/") for extension, listed in own.items() if extension not in extensions
                    for path in listed} | {entry.file.rstrip("/") for entry in self.not_run if entry.suite == suite}
        chosen: list[str] = []
        for path in dict.fromkeys(paths + [p for listed in own.values() for p in listed]):
            chosen += files_below(source, path, patterns) if (source / path).is_dir() else [path]
        return [file for file in dict.fromkeys(chosen) if not any(prefix in left_out for prefix in path_prefixes(file))]

    def not_running(self, suite: str, file: str) -> NotRun | None:
        return next((entry for entry in self.not_run if entry.suite == suite and entry.covers(file)), None)


def _entry(path: Path, index: int, raw: dict, table: str = "known_failure",
           fields: set[str] = ENTRY_FIELDS) -> dict:
    where = f"Verification plan {path}: {table}[{index}]"
    optional = OPTIONAL_ENTRY_FIELDS if table == "known_failure" else set()
    if not fields <= set(raw) <= fields | optional:
        raise UserError(f"{where} must have exactly the fields {', '.join(sorted(fields))}"
                        + (f" (and may have {', '.join(sorted(optional))})" if optional else "")
                        + f" (it has {', '.join(sorted(raw))}).")
    if "profiles" in raw:
        if not (isinstance(raw["profiles"], list) and raw["profiles"] and all(isinstance(p, str) for p in raw["profiles"])):
            raise UserError(f'{where}: profiles must be a list of profile names, e.g. profiles = ["default"].')
        raw = {**raw, "profiles": tuple(raw["profiles"])}
    if raw["suite"] not in SUITES:
        raise UserError(f"{where}: suite '{raw['suite']}' is not one of {', '.join(SUITES)}.")
    if raw["reason"] not in CATEGORIES:
        raise UserError(f"{where}: reason '{raw['reason']}' is not one of {', '.join(CATEGORIES)}.")
    if not raw["why"].strip():
        raise UserError(f"{where}: 'why' is empty; say in a sentence why the test fails.")
    return raw


def load_plan(name: str) -> Plan:
    """verification/<name>.toml: ruby-<series> for a Ruby series, gem-<name> for a gem."""
    path = PLANS_DIR / f"{name}.toml"
    if not path.exists():
        raise UserError(f"No verification plan {name}: expected {path}. Write one listing the tests to "
                        "run (see the other plans in that directory).")
    stat = path.stat()
    return _read_plan(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_plan(path: Path, mtime_ns: int, size: int) -> Plan:
    """The plan as the file is now (its time and size are part of the cache key): a series' plan
    lists thousands of entries, and one doit run asks for it from every stage's up-to-date check."""
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"Verification plan {path} is not valid TOML: {error}.") from None
    entries = [KnownFailure(**_entry(path, i, e)) for i, e in enumerate(raw.get("known_failure", []))]
    known = {e.key: e for e in entries}
    if len(known) != len(entries):
        raise UserError(f"Verification plan {path} lists a known failure twice.")
    excluded: dict[str, list[str]] = {}
    for i, entry in enumerate(raw.get("excluded", [])):
        rule = _entry(path, i, entry, "excluded")
        excluded.setdefault(rule["file"], []).append(rule["test"])
    not_run = [NotRun(**_entry(path, i, entry, "not_run", NOT_RUN_FIELDS)) for i, entry in enumerate(raw.get("not_run", []))]
    # A series' plan runs test-all (and may run a bundled gem's own tests with minitest); a gem's runs minitest.
    tests, minitest = raw.get("test_all", {}), raw.get("minitest", {})
    by_extension = tests.get("by_extension", {})
    if not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in by_extension.values()):
        raise UserError(f"Verification plan {path}: by_extension must map extension names to "
                        'lists of paths, e.g. zlib = ["test/zlib"].')
    return Plan(path, list(tests.get("files", [])), known, excluded, by_extension, list(minitest.get("deps", [])),
                list(minitest.get("load_path", [])), endurance_plan(path, raw["endurance"]) if "endurance" in raw else None,
                list(raw.get("ruby_spec", {}).get("files", [])), not_run, list(minitest.get("files", [])))


ENDURANCE_FIELDS = {"file": str, "small": int, "large": int, "needs": str}


def endurance_plan(path: Path, raw: dict) -> EndurancePlan:
    where = f"Verification plan {path}: [endurance]"
    growth = raw.get("memory_growth_mib")
    if not isinstance(growth, int) or growth < 0:
        raise UserError(f"{where} needs memory_growth_mib, a whole number of MiB (e.g. 8).")
    programs = []
    for index, program in enumerate(raw.get("programs", [])):
        if not {"file", "small", "large"} <= set(program) <= set(ENDURANCE_FIELDS) or not all(
                isinstance(value, ENDURANCE_FIELDS[name]) for name, value in program.items()):
            raise UserError(f"{where} programs[{index}] must be {{ file = \"name.rb\", small = N, large = M }} "
                            f"with whole numbers, and optionally needs = \"extension\" (it is {program}).")
        if not (ENDURANCE_DIR / program["file"]).is_file():
            raise UserError(f"{where} programs[{index}]: {ENDURANCE_DIR / program['file']} does not exist.")
        if not 0 < program["small"] < program["large"]:
            raise UserError(f"{where} programs[{index}] ({program['file']}): small must be positive and "
                            "less than large, so that memory growth between them shows a leak.")
        programs.append(EnduranceProgram(ENDURANCE_DIR / program["file"], program["small"], program["large"],
                                         program.get("needs", "")))
    if not programs:
        raise UserError(f"{where} lists no programs.")
    return EndurancePlan(tuple(programs), growth << 20)


@dataclass(frozen=True)
class Verdict:
    """How a suite's results compare with the plan's known failures."""
    passed: list[TestResult]
    known: list[TestResult]
    unexpected: list[TestResult]
    fixed: list[TestResult]
    skipped: list[TestResult]

    def ok(self, strict: bool) -> bool:
        return not self.unexpected and not (strict and self.fixed)


def judge(results: list[TestResult], plan: Plan) -> Verdict:
    verdict = Verdict([], [], [], [], [])
    for result in results:
        listed = (result.suite, result.file, result.name) in plan.known
        if result.outcome == "skipped":
            verdict.skipped.append(result)
        elif result.failed:
            (verdict.known if listed else verdict.unexpected).append(result)
        else:
            (verdict.fixed if listed else verdict.passed).append(result)
    return verdict
