#!/usr/bin/env node
// Adds lockfile entries for the other-platform optional binaries (darwin, win32, arm64, musl, ...)
// of packages such as @duckdb/node-bindings and rollup. npm 11 behind a registry proxy that does
// not serve those packages writes a lockfile without them, and `npm ci` then refuses to install
// ("Missing: <pkg>@ from lock file"). The added entries carry only name, version, os/cpu/libc
// (from the package name) and optional: true, so npm ci skips them on platforms they do not fit.
// Run after changing dependencies:  npm install && node scripts/lockfile-platforms.mjs
import fs from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const OS = ['darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'android', 'openharmony', 'sunos', 'aix'];
const CPU = { x64: 'x64', arm64: 'arm64', arm: 'arm', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.map((p) => CPU[p.replace(/eabi|hf$/, '')] ?? null).find(Boolean);
  const libc = parts.includes('musl') || parts.includes('musleabihf') ? 'musl' : parts.includes('gnu') || parts.includes('gnueabihf') ? 'glibc' : null;
  return { os, cpu, libc };
}

let added = 0;
for (const [loc, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const nested = `${loc}/node_modules/${dep}`;
    if (pkgs[key] || pkgs[nested]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os && !cpu) continue; // not a platform binary: leave it to npm
    const version = /^\d/.test(spec) ? spec : spec.replace(/^[\^~=]/, '');
    pkgs[key] = { version, ...(cpu ? { cpu: [cpu] } : {}), ...(libc ? { libc: [libc] } : {}), license: 'MIT', optional: true, ...(os ? { os: [os] } : {}) };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform entries to package-lock.json`);
