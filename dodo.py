"""doit task graph: wiring only. The work lives in the toolchain package."""
from toolchain import tasks
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


def task_ruby_wasm():
    """Build and smoke-check ruby.wasm: doit ruby_wasm [--ruby 3.3] [--profile full] [--toolchain auto]"""
    return {
        "params": [PARAMS["ruby"], PARAMS["profile"], PARAMS["toolchain"]],
        "actions": [tasks.build_ruby_wasm],
        "uptodate": [tasks.ruby_wasm_uptodate],
    }


def task_ext():
    """Build ruby.wasm with a gem's C extension prelinked: doit ext:<gem> [--ruby 3.3] [--toolchain auto]"""
    for gem in tasks.gems_with_extensions():
        yield {
            "name": gem,
            "params": [PARAMS["ruby"], PARAMS["toolchain"]],
            "actions": [(tasks.build_ext, [gem])],
            "uptodate": [tasks.ext_uptodate(gem)],
        }


def task_verify():
    """Run Ruby's own tests and the endurance suite on ruby.wasm: doit verify [--suites basictest,...,endurance] [--strict]"""
    return {
        "params": [PARAMS[name] for name in ("ruby", "profile", "toolchain", "suites", "strict", "workers")],
        "actions": [tasks.verify],
        "uptodate": [tasks.verify_uptodate],
    }


def task_verify_ext():
    """Run a gem's own tests and the endurance suite on its ruby.wasm: doit verify_ext:<gem> [--strict]"""
    for gem in tasks.gems_with_tests():
        yield {
            "name": gem,
            "params": [PARAMS[name] for name in ("ruby", "toolchain", "strict", "workers")],
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


def task_nightly():
    """Build, verify and rebuild every artifact, prove them identical, publish a dated release: doit nightly"""
    return {
        "params": [PARAMS[name] for name in ("ruby", "toolchain", "workers")],
        "actions": [tasks.run_nightly],
        "uptodate": [tasks.nightly_uptodate],
    }
