// jsii's kernel (../lib/program.js) in the node process that jsii's Python runtime started.
//
// The kernel reads and writes its messages on fd 3; jsii's own launcher (bin/jsii-runtime.js)
// starts it as a second node process and relays Python's stdin and stdout to that fd. Here
// bin/node hands this process Python's request pipe as fd 3 and its answer pipe as fd 4, with
// /dev/null on fd 0 and stderr on fd 1, so nothing but the kernel's answers reaches Python's
// pipe. What JavaScript prints goes where the relay would put it: one JSON line per chunk on
// stderr, {"stdout" or "stderr": base64}, which jsii's Python runtime decodes onto Python's own
// streams. See infra/jsii_kernel.py.
"use strict";

const fs = require("fs");
const { Writable } = require("stream");
const util = require("util");

const KERNEL_CHANNEL = 3; // lib/program.js: new SyncStdio({ readFD: 3, writeFD: 3 })
const ANSWERS = 4; // bin/node: 4>&1
const { writeSync } = fs;

function toPython(kind, bytes) {
  writeSync(2, `${JSON.stringify({ [kind]: Buffer.from(bytes).toString("base64") })}\n`);
}

// The bytes a writeSync call writes: (fd, buffer[, offset[, length]]), (fd, buffer, options) or
// (fd, string[, position[, encoding]]).
function bytesOf(data, rest) {
  if (typeof data === "string") return Buffer.from(data, typeof rest[1] === "string" ? rest[1] : "utf8");
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const options = typeof rest[0] === "object" && rest[0] !== null ? rest[0] : { offset: rest[0], length: rest[1] };
  const offset = options.offset ?? 0;
  return bytes.subarray(offset, options.length === undefined ? undefined : offset + options.length);
}

fs.writeSync = (fd, data, ...rest) => {
  if (fd === KERNEL_CHANNEL) return writeSync(ANSWERS, data, ...rest);
  if (fd !== 2) return writeSync(fd, data, ...rest);
  const bytes = bytesOf(data, rest); // the kernel's own error lines (JSII_DEBUG)
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

// node itself would write these to fd 2 unwrapped (the relay wrapped them), then exit with 1.
process.on("uncaughtException", (error) => {
  toPython("stderr", `${util.inspect(error)}\n`);
  process.exit(1);
});

require("../lib/program.js");
