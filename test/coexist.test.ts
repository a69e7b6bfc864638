/** Two recipes into one --out: both result sets coexist and can be compared; each resumes on its own. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, GEN, query, tmpDir, writeRecipe } from './helpers/fixtures.js';

describe('different recipes into the same --out', () => {
  it('keep both result sets, told apart by run_id / recipe_hash; re-running either does nothing new', () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const recipe = (threshold: number, maxClip: number) =>
      `ops:\n  - op: probe\n  - op: scene_detect\n    params: {threshold: ${threshold}}\n  - op: clips\n    params: {max_clip_seconds: ${maxClip}, overlap_seconds: 0}\n  - op: debug_fault\n`;
    const a = writeRecipe(dir, recipe(27, 10), 'a.yaml');
    const b = writeRecipe(dir, recipe(27, 1), 'b.yaml'); // same scenes, other clips
    const c = writeRecipe(dir, recipe(254, 10), 'c.yaml'); // other scenes (no cut is that strong)
    const input = path.join(GEN, 'cuts', 'cuts_4scenes.mp4');
    for (const r of [a, b, c]) expect(cli(['run', r, '--input', input, '--out', out, '--quiet']).code).toBe(0);
    const per = query<{ recipe_name: string; scenes: number; clips: number; faults: number }>(
      out,
      `SELECT r.recipe_name,
         (SELECT count(*) FROM scenes s WHERE s.run_id = r.run_id) AS scenes,
         (SELECT count(*) FROM clips c WHERE c.run_id = r.run_id) AS clips,
         (SELECT count(*) FROM debug_fault d WHERE d.run_id = r.run_id) AS faults
       FROM runs r ORDER BY r.started_at`,
    );
    // a: 4 scenes -> 4 clips; b reuses a's scenes and adds its own 1 s clips; c: 1 scene -> 1 clip
    expect(per.map((p) => p.recipe_name)).toEqual(['a', 'b', 'c']);
    expect(per[0]).toMatchObject({ scenes: 4, clips: 4, faults: 4 });
    expect(per[1].scenes).toBe(0);
    expect(per[1].clips).toBeGreaterThan(4);
    expect(per[1].faults).toBe(per[1].clips);
    expect(per[2]).toMatchObject({ scenes: 1, clips: 1, faults: 1 });
    // running a and b again: nothing new
    for (const r of [a, b]) {
      const again = cli(['run', r, '--input', input, '--out', out, '--quiet', '--log-format', 'json']);
      expect(JSON.parse(again.stdout.trim().split('\n').pop()!).rows).toEqual({});
    }
    // status counts the last run's recipe (b); --all counts every recipe's tasks
    type St = { scope: { recipe: string | null; all: boolean }; other_tasks: number; ops: Array<{ op: string; total: number }> };
    const st = JSON.parse(cli(['status', '--out', out, '--json']).stdout) as St;
    expect(st.scope).toMatchObject({ recipe: 'b', all: false });
    const tot = (s: St, op: string) => s.ops.find((o) => o.op === op)?.total;
    expect(tot(st, 'debug_fault')).toBe(per[1].clips);
    expect(tot(st, 'scene_detect')).toBe(1);
    expect(st.other_tasks).toBe(1 /* c's scene_detect */ + 2 /* a's, c's clips */ + 4 + 1 /* a's, c's debug_fault */);
    const all = JSON.parse(cli(['status', '--out', out, '--json', '--all']).stdout) as St;
    expect(all.scope.all).toBe(true);
    expect(all.other_tasks).toBe(0);
    expect(tot(all, 'debug_fault')).toBe(per[1].clips + 5);
    expect(cli(['status', '--out', out]).stdout).toMatch(/recipe: b .*\n[\s\S]*8 more task\(s\) in this --out belong to other recipes/);
  }, 120_000);

  it("another recipe's dead letters are not this run's: exit 0, its summary counts only its own tasks", () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    const input = path.join(GEN, 'cuts', 'cuts_4scenes.mp4');
    const recipe = (fault: string) => `ops:\n  - op: probe\n  - op: clips\n    params: {max_clip_seconds: 10}\n  - op: debug_fault\n    params: {fault: ${fault}}\n`;
    const bad = cli(['run', writeRecipe(dir, recipe('permanent'), 'bad.yaml'), '--input', input, '--out', out, '--quiet']);
    expect(bad.code).toBe(3);
    const good = cli(['run', writeRecipe(dir, recipe('none'), 'good.yaml'), '--input', input, '--out', out, '--log-format', 'json']);
    expect(good.code, good.stderr).toBe(0);
    const summary = JSON.parse(good.stdout.trim().split('\n').pop()!) as { dead: number; tasks: Record<string, Record<string, number>> };
    expect(summary.dead).toBe(0);
    expect(summary.tasks.debug_fault).toEqual({ done: 1 });
    // dlq still lists the other recipe's dead letter
    expect(JSON.parse(cli(['dlq', '--out', out, '--json']).stdout)).toHaveLength(1);
  }, 60_000);
});
