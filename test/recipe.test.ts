import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRecipe, RecipeError } from '../src/recipe.js';
import { cli, ROOT, tmpDir, writeRecipe } from './helpers/fixtures.js';

function errorsOf(yaml: string): RecipeError['errors'] {
  try {
    parseRecipe(yaml, 'r.yaml');
  } catch (e) {
    if (e instanceof RecipeError) return e.errors;
    throw e;
  }
  throw new Error('expected a RecipeError');
}

describe('recipe validation', () => {
  it('applies defaults and accepts the shipped recipes', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'recipes')).filter((f) => /\.ya?ml$/.test(f))) {
      const r = cli(['validate', path.join(ROOT, 'recipes', f)]);
      if (f === 'masks.yaml') {
        // the real-model recipe: without the exported weights it says so and stops
        expect(r.code, f).toBe(2);
        expect(r.stderr).toMatch(/never produces output without real weights/);
      } else expect(r.code, `${f}: ${r.stderr}`).toBe(0);
    }
    const r = parseRecipe('ops: [probe, scene_detect, clips]\n');
    expect(r.ops.map((o) => o.op)).toEqual(['probe', 'scene_detect', 'clips']);
    expect(r.ops[1].params).toMatchObject({ detector: 'content', threshold: 27, min_scene_len: 15, weights: [1, 1, 1, 0] });
    expect(r.defaults.max_attempts).toBe(3);
    expect(r.resources.cpu_workers).toBeGreaterThanOrEqual(1);
  });

  it('reports every error with its field path and line', () => {
    const errs = errorsOf(`name: x
resources:
  cpu_workers: many
ops:
  - op: probe
  - op: scene_detect
    params:
      threshhold: 30
      min_scene_len: 1.5
      detector: fancy
  - op: clips
    params: {overlap_seconds: -1}
  - op: no_such_op
`);
    const by = (p: string) => errs.find((e) => e.path === p);
    expect(by('resources.cpu_workers')).toMatchObject({ line: 3, message: expect.stringMatching(/expected an integer or "auto", got "many"/) });
    expect(by('ops[1].params.threshhold')).toMatchObject({ line: 8, message: expect.stringMatching(/unknown parameter "threshhold" \(did you mean "threshold"\?\)/) });
    expect(by('ops[1].params.min_scene_len')).toMatchObject({ line: 9, message: expect.stringMatching(/integer/) });
    expect(by('ops[1].params.detector')).toMatchObject({ line: 10, message: expect.stringMatching(/one of "content", "adaptive"/) });
    expect(by('ops[2].params.overlap_seconds')).toMatchObject({ line: 12, message: expect.stringMatching(/>= 0/) });
    expect(by('ops[3].op')).toMatchObject({ line: 13, message: expect.stringMatching(/unknown op "no_such_op"; known ops: .*scene_detect/) });
    expect(errs).toHaveLength(6);
  });

  it('checks op order and structure', () => {
    expect(errorsOf('ops:\n  - op: scene_detect\n')[0].message).toMatch(/needs "probe"|first op must be "probe"/);
    expect(errorsOf('ops:\n  - op: probe\n  - op: debug_fault\n').map((e) => e.message).join()).toMatch(/put the "clips" op before it/);
    expect(errorsOf('ops: []\n')[0].message).toMatch(/non-empty list/);
    expect(errorsOf('opz: []\n').map((e) => e.message).join()).toMatch(/unknown top-level key "opz"/);
    expect(errorsOf('ops:\n  - op: probe\n  - op: clips\n    params: {max_clip_seconds: 1, overlap_seconds: 2}\n')[0].message).toMatch(/overlap_seconds \(2\) must be smaller/);
    const syn = errorsOf('ops:\n  - op: probe\n   bad: [\n');
    expect(syn[0].message).toMatch(/YAML syntax/);
    expect(syn[0].line).toBeGreaterThan(0);
  });

  it('egopipe validate exits 2 with file:line messages and writes nothing', () => {
    const dir = tmpDir();
    const f = writeRecipe(dir, 'ops:\n  - op: probe\n  - op: scene_detect\n    params: {threshold: high}\n');
    const before = fs.readdirSync(dir);
    const r = cli(['validate', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:4:`);
    expect(r.stderr).toMatch(/ops\[1\]\.params\.threshold: expected a number, got "high"/);
    expect(fs.readdirSync(dir)).toEqual(before);
  });
});
