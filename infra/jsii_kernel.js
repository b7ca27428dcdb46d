// jsii's kernel (../lib/program.js) in the node process that jsii's Python runtime started.
//
// The kernel reads and writes its messages on fd 3; jsii's own launcher (bin/jsii-runtime.js)
// starts it as a second node process and relays Python's stdin and stdout to that fd. Here the
// kernel reads fd 0 and writes fd 1, Python's pipes, directly. What JavaScript prints goes where
// the relay would put it: one JSON line per chunk on stderr, {"stdout" or "stderr": base64},
// which jsii's Python runtime decodes onto Python's own streams. See infra/jsii_kernel.py.
"use strict";

const fs = require("fs");
const { Writable } = require("stream");

const KERNEL_CHANNEL = 3; // lib/program.js: new SyncStdio({ readFD: 3, writeFD: 3 })
const { readSync, writeSync } = fs;

function toPython(kind, bytes) {
  writeSync(2, `${JSON.stringify({ [kind]: Buffer.from(bytes).toString("base64") })}\n`);
}

fs.readSync = (fd, ...rest) => readSync(fd === KERNEL_CHANNEL ? 0 : fd, ...rest);
fs.writeSync = (fd, data, ...rest) => {
  if (fd === KERNEL_CHANNEL) return writeSync(1, data, ...rest);
  if (fd !== 2) return writeSync(fd, data, ...rest);
  // The kernel's own error lines: (fd, buffer, offset) or (fd, string).
  const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data).subarray(rest[0] ?? 0);
  toPython("stderr", bytes);
  return bytes.length;
};

for (const kind of ["stdout", "stderr"]) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      toPython(kind, chunk);
      done();
    },
  });
  Object.defineProperty(process, kind, { configurable: true, enumerable: true, get: () => stream });
}

require("../lib/program.js");
