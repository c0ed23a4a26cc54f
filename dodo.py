"""doit task graph: wiring only. The work lives in the toolchain package.

The products users ask for (ruby_wasm, ext:<gem>, verify, ...) come after the stages they need
(fetch, lib, baseruby, twin, configure, make, gem, extension, link, artifact, suite, reproduce;
a box of the series' recipe is an artifact stage too;
see toolchain/graph.py), so
`doit list --all` shows the pipeline and `doit -n N` runs independent stages side by side.
"""
from doit import task_params

from toolchain import graph, tasks
from toolchain.paths import cache_dir
from toolchain.tasks import PARAMS

DOIT_CONFIG = {
    "default_tasks": ["ruby_wasm"],
    "verbosity": 2,
    "action_string_formatting": "new",
    # sqlite3 rather than doit's default dbm: many doit processes may share one cache, and
    # sqlite's own locks keep the database whole where dbm files would interleave.
    "backend": "sqlite3",
    "dep_file": str(cache_dir() / "doit.sqlite3"),
}


@task_params([PARAMS["ruby"], PARAMS["profile"], PARAMS["toolchain"]])
def task_ruby_wasm(ruby: str, profile: str, toolchain: str):
    """Build and smoke-check ruby.wasm: doit ruby_wasm [--ruby 3.3] [--profile full] [--toolchain auto]"""
    staged = tasks.ruby_product(ruby, profile, toolchain)
    return {
        "actions": [tasks.build_ruby_wasm],
        # after its stages it runs when they published the artifact anew (its file_dep);
        # built in one step, it checks the artifact itself
        "uptodate": [] if staged else [(tasks.ruby_wasm_uptodate, [ruby, profile, toolchain])],
        **staged,
    }


def task_ext():
    """Build ruby.wasm with a gem's C extension prelinked: doit ext:<gem> [--ruby 3.3] [--toolchain auto]"""
    for gem in tasks.gems_with_extensions():
        yield {
            "name": gem,
            "doc": f"ruby.wasm with {gem}'s extension prelinked",
            "params": [PARAMS["ruby"], PARAMS["toolchain"]],
            "actions": [(tasks.build_ext, [gem])],
            "uptodate": [tasks.ext_uptodate(gem)],
        }


@task_params([PARAMS[name] for name in tasks.BOX_PARAMS])
def task_box(name: str, gems: str, app: str, entry: str, ruby: str, profile: str, toolchain: str):
    """Build a box, one pre-initialized .wasm with ruby, the stdlib, gems and an app: doit box [--name N] [--gems nokogiri,bcrypt] [--app DIR --entry FILE]"""
    args = [name, gems, app, entry, ruby, profile, toolchain]
    return {"actions": [(tasks.build_box, args)], "uptodate": [(tasks.box_uptodate, args)], "verbosity": 2}


@task_params([PARAMS[name] for name in ("ruby", "profile", "toolchain", "suites", "strict", "workers")])
def task_verify(ruby: str, profile: str, toolchain: str, suites: str, strict: bool, workers: int):
    """Run Ruby's own tests and the endurance suite on ruby.wasm: doit verify [--suites basictest,...,endurance,minitest] [--strict]"""
    return {
        "actions": [tasks.verify],
        "uptodate": [(tasks.verify_uptodate, [ruby, profile, toolchain, suites, strict])],
        **tasks.ruby_product(ruby, profile, toolchain, suites),
    }


def task_verify_ext():
    """Run a gem's own tests and the endurance suite on its ruby.wasm: doit verify_ext:<gem> [--strict]"""
    for gem in tasks.gems_with_tests():
        yield {
            "name": gem,
            "params": [PARAMS[name] for name in ("ruby", "toolchain", "strict", "workers")],
            "doc": f"{gem}'s own tests and the endurance suite on its ruby.wasm",
            "actions": [(tasks.verify_ext, [gem])],
            "uptodate": [tasks.verify_ext_uptodate(gem)],
        }


def task_toolchain():
    """Prepare the wasm toolchain and print its identity: doit toolchain [--toolchain auto]"""
    return {"params": [PARAMS["toolchain"]], "actions": [tasks.prepare_toolchain], "uptodate": [False]}


def task_run_ruby():
    """Run a built ruby.wasm under wasmtime: doit run_ruby -a "-e 'puts 1'" [--dir HOST[::GUEST]]"""
    return {
        "params": [PARAMS["ruby"], PARAMS["profile"], PARAMS["args"], PARAMS["dir"]],
        "actions": [tasks.run_ruby],
        "uptodate": [False],
    }


def task_lock():
    """Pin every input in ruby-wasm.lock (sources, patches, toolchain, Python deps): doit lock"""
    return {"params": [PARAMS["toolchain"]], "actions": [tasks.update_lock], "uptodate": [False]}


def task_outdated():
    """Say which pinned inputs their sources no longer list, and what they offer: doit outdated [--update NAME]"""
    return {"params": [PARAMS["update"]], "actions": [tasks.report_outdated], "uptodate": [False]}


def task_gc():
    """Remove builds, compiled modules and downloads that no current recipe, lock or recent release needs: doit gc [--dry-run]"""
    return {"params": [PARAMS["dry_run"], PARAMS["keep_releases"]], "actions": [tasks.collect_garbage],
            "uptodate": [False]}


@task_params([PARAMS[name] for name in ("ruby", "toolchain", "workers")])
def task_nightly(ruby: str, toolchain: str, workers: int):
    """Build, verify and rebuild every artifact, prove them identical, publish a dated release: doit nightly"""
    return {
        "actions": [tasks.run_nightly],
        "uptodate": [(tasks.nightly_uptodate, [ruby, toolchain])],
        **tasks.nightly_product(ruby, toolchain),
    }


def task_report():
    """Draw the nightly's page (plots, the stage graph) in every kept release: doit report -> releases/<release>/report.html"""
    return {"actions": [tasks.make_reports], "uptodate": [False], "verbosity": 2}


def task_push():
    """Upload what this machine built to the binary cache, signed: RUBY_WASM_BINARY_CACHE=<url> doit push [--product ruby-3.3-full]"""
    return {"params": [PARAMS["products"]], "actions": [tasks.push_to_binary_cache], "uptodate": [False],
            "verbosity": 2}


def task_cache_key():
    """Create a signing key for the binary cache: doit cache-key generate [--name myteam-1] [--out FILE]"""
    return {"basename": "cache-key", "pos_arg": "words",
            "actions": [tasks.cache_key], "uptodate": [False], "verbosity": 2}


# --- the stages ------------------------------------------------------------------------------------

def task_stages():
    """The pipeline's stages, one doit task per instance (fetch:, lib:, baseruby:, twin:, configure:, make:, gem:, extension:, link:, artifact:)"""
    yield from graph.stage_tasks()
