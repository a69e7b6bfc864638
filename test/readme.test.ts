/** The README stays true: its schema section is what the code declares, its commands exist. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT } from './helpers/fixtures.js';

describe('README', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  it('table schemas match `egopipe ops --markdown` (run `npm run docs` after changing a table)', () => {
    const md = cli(['ops', '--markdown']).stdout.trim();
    const block = /<!-- tables:begin -->\n([\s\S]*)\n<!-- tables:end -->/.exec(readme)?.[1];
    expect(block?.trim()).toBe(md);
  });
  it('names every npm script it tells users to run', () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;
    for (const m of readme.matchAll(/npm run ([\w:-]+)/g)) expect(scripts, m[1]).toHaveProperty(m[1]);
  });
});
