#!/usr/bin/env node
// Regenerates the table-schema section of README.md from the code (`egopipe ops --markdown`).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const root = new URL('..', import.meta.url);
const md = execFileSync(process.execPath, [new URL('bin/egopipe.js', root).pathname, 'ops', '--markdown'], { encoding: 'utf8' }).trim();
const file = new URL('README.md', root);
const text = fs.readFileSync(file, 'utf8');
const re = /<!-- tables:begin -->[\s\S]*<!-- tables:end -->/;
if (!re.test(text)) throw new Error('README.md has no <!-- tables:begin --> ... <!-- tables:end --> block');
fs.writeFileSync(file, text.replace(re, `<!-- tables:begin -->\n${md}\n<!-- tables:end -->`));
console.log('README.md table schemas updated');
