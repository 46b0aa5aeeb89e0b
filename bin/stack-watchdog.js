#!/usr/bin/env node
// The local stack's watchdog (started by src/dev/stack.ts): `node bin/stack-watchdog.js <parentPid> <pidsFile>`.
// When the `bulkgen dev` process is gone (SIGKILL leaves no chance to clean up), it stops every process listed in
// <pidsFile> ([{ "pid": 123, "signal": "SIGINT" }, ...], rewritten by the stack as parts start): their signal,
// then SIGKILL after 10 s, then it exits. A plain script with no dependency, so it starts in milliseconds.
'use strict';
const fs = require('node:fs');

const parent = Number(process.argv[2]);
const pidsFile = process.argv[3];

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function listed() {
  try {
    return JSON.parse(fs.readFileSync(pidsFile, 'utf8'));
  } catch {
    return [];
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const timer = setInterval(() => {
  if (alive(parent)) return;
  clearInterval(timer);
  const parts = listed();
  for (const p of parts) signal(p.pid, p.signal || 'SIGTERM');
  const deadline = Date.now() + 10_000;
  const sweep = setInterval(() => {
    const left = parts.filter((p) => alive(p.pid));
    if (left.length === 0 || Date.now() > deadline) {
      for (const p of left) signal(p.pid, 'SIGKILL');
      clearInterval(sweep);
      fs.rmSync(pidsFile, { force: true });
      process.exit(0);
    }
  }, 200);
}, 500);
