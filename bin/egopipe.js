#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm's `prepare` script compiles TypeScript on `npm ci`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('egopipe is not built yet: run `npm ci` (or `npm run build`) in the project folder.\n');
  process.exit(1);
}
const { main } = await import(cli.href);
const code = await main(process.argv);
// Let pending stdout writes drain, then exit with the documented code.
process.exitCode = code;
