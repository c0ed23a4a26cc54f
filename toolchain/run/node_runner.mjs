// Runs a WASI preview 1 command module (a box, or any ruby.wasm) under Node's built-in node:wasi,
// granting it only the directories named, as the project's own runner (ruby-wasm) does:
//
//   node toolchain/run/node_runner.mjs [--dir HOST[::GUEST]]... [--env NAME=VALUE]... MODULE.wasm [ARGS...]
//
// The module's exit status is this process's. Node compiles the module on every run (it keeps no
// compiled code between processes), so its start-up is not the wasm's own.
//
// The module runs in a worker thread with a 96 MiB stack: V8 keeps wasm frames on the thread's
// own stack (under 1 MiB on the main thread), and deep recursion in CRuby's C code needs the room
// the project's wasmtime runner gives it (toolchain/run/runner.py, MAX_WASM_STACK), so that it
// ends in Ruby's SystemStackError rather than in a RangeError that kills the module.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { argv, exit, stderr } from "node:process";
import { WASI } from "node:wasi";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const STACK_MIB = 96;

function usage(problem) {
  stderr.write(`node_runner.mjs: ${problem}\nusage: node node_runner.mjs [--dir HOST[::GUEST]]... ` +
               "[--env NAME=VALUE]... MODULE.wasm [ARGS...]\n");
  exit(2);
}

function parse(args) {
  const preopens = {};
  const env = {};
  let i = 0;
  for (; i < args.length && args[i].startsWith("--"); i += 2) {
    const [option, value] = [args[i], args[i + 1]];
    if (value === undefined) usage(`${option} needs a value`);
    if (option === "--dir") {
      const [host, guest] = value.split("::");
      preopens[guest || resolve(host)] = resolve(host);
    } else if (option === "--env") {
      const at = value.indexOf("=");
      if (at <= 0) usage(`--env ${value} is not NAME=VALUE`);
      env[value.slice(0, at)] = value.slice(at + 1);
    } else {
      usage(`unknown option ${option}`);
    }
  }
  if (i >= args.length) usage("name the module to run");
  return { preopens, env, module: args[i], args: args.slice(i + 1) };
}

async function run(options) {
  const wasi = new WASI({
    version: "preview1",
    args: ["ruby", ...options.args],
    env: options.env,
    preopens: options.preopens,
    returnOnExit: true,
  });
  const module = await WebAssembly.compile(await readFile(options.module));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  return wasi.start(instance);
}

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: parse(argv.slice(2)),
    resourceLimits: { stackSizeMb: STACK_MIB },
  });
  // Exit once the worker has ended, not as its status arrives: ending the process while the
  // worker's isolate is still being torn down (its wasm memory, V8's background compiles of a
  // large module) made Node crash with SIGSEGV now and then, under load, after the module exited.
  let status = 1;
  worker.on("message", (value) => { status = value; });
  worker.on("exit", () => exit(status));
  worker.on("error", (error) => {
    stderr.write(`node_runner.mjs: the module failed: ${error.stack || error}\n`);
    exit(134);
  });
} else {
  parentPort.postMessage(await run(workerData));
}
