/**
 * The resume path: upstream rows read back from committed Parquet (readRows) must give the same
 * lift3d / object_motion results as rows handed over in memory. Also checks every table's rows
 * against its declared DuckDB types.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Manifest } from '../../src/manifest.js';
import { OutputStore } from '../../src/parquet.js';
import { op as depthOp } from '../../operators/depth/index.js';
import { lift3d, op as liftOp } from '../../operators/lift3d/index.js';
import { analyzeMotion, op as motionOp } from '../../operators/object_motion/index.js';
import type { Row, TableSpec } from '../../operators/types.js';
import { tmpDir } from '../helpers/fixtures.js';
import { BASE_SCENE, depthRow, maskRow, type Box, type Scene } from '../lift3d/scene.js';

const CLIP = 'rt-clip';

async function roundTrip(specs: readonly TableSpec[], rows: Record<string, Row[]>): Promise<Record<string, Row[]>> {
  const out = tmpDir('egopipe-rt-');
  const m = new Manifest(Manifest.pathIn(out));
  const s = new OutputStore(out, 'run1', m, new Map(specs.map((t) => [t.name, t])));
  s.recover();
  try {
    for (const [t, r] of Object.entries(rows)) s.add(t, r);
    await s.commit(() => undefined);
    const back: Record<string, Row[]> = {};
    for (const t of Object.keys(rows)) back[t] = await s.readRows(t, 'clip_id', CLIP, 'run1');
    return back;
  } finally {
    s.close();
    m.close();
    rmSync(out, { recursive: true, force: true });
  }
}

describe('Parquet round trip of depth -> lift3d -> object_motion rows', () => {
  it('read-back rows give the same results as in-memory rows', async () => {
    const depth: Row[] = [];
    const masks: Row[] = [];
    for (let k = 0; k < 5; k++) {
      const a: Box = { id: 1, label: 'moved', center: [-0.06 + 0.03 * k, 0.1, 0.85], size: [0.06, 0.05, 0.06] };
      const b: Box = { id: 2, label: 'still', center: [0.15, 0.1, 0.95], size: [0.05, 0.05, 0.05] };
      const s: Scene = { ...BASE_SCENE, boxes: [a, b] };
      depth.push({ ...depthRow(s, CLIP, k * 10), t_s: k / 3, model: 'synthetic', intrinsics_source: 'recipe', scale_source: 'test', depth_min_m: 0.5, depth_median_m: 1, depth_max_m: 2, valid_frac: 1 });
      masks.push(maskRow(s, CLIP, k * 10, a), maskRow(s, CLIP, k * 10, b));
    }
    const dBack = await roundTrip(depthOp.outputs, { depth });
    expect(dBack.depth).toHaveLength(5);
    const mem = lift3d({ clipId: CLIP, fps: 30, depth, masks, hands: [], handPoses: [] }, {});
    const fromDisk = lift3d({ clipId: CLIP, fps: 30, depth: dBack.depth, masks, hands: [], handPoses: [] }, {});
    expect(fromDisk.objects).toEqual(mem.objects);

    const lBack = await roundTrip(liftOp.outputs, { objects_3d: mem.objects, hands_3d: mem.hands });
    const a = analyzeMotion({ clipId: CLIP, fps: 30, objects: mem.objects, hands: [] }, {});
    const b = analyzeMotion({ clipId: CLIP, fps: 30, objects: lBack.objects_3d, hands: lBack.hands_3d }, {});
    const pick = (o: Row) => [o.object_id, o.motion_class, Number(o.displacement_m).toFixed(4), o.n_obs];
    expect(b.objectMotion.map(pick)).toEqual(a.objectMotion.map(pick));
    expect(a.objectMotion.find((o) => o.label === 'moved')!.motion_class).toBe('moving');

    const mBack = await roundTrip(motionOp.outputs, { object_motion: a.objectMotion, hand_object_contacts: a.contacts, clip_summary: [a.summary] });
    expect(mBack.clip_summary).toHaveLength(1);
    expect(mBack.clip_summary[0]).toMatchObject({ clip_id: CLIP, objects: 2, moving_objects: 1, hand_moves_object: false });
    expect(mBack.object_motion).toHaveLength(2);
  });
});
