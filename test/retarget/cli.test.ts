import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { retargetFile } from '../../operators/retarget/cli.js';
import { Retargeter } from '../../operators/retarget/retargeter.js';
import { CONFIG_DIR, HANDS_DIR, HUMAN_JSON } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-retarget-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('retargetFile', () => {
  const doc = JSON.parse(fs.readFileSync(HUMAN_JSON, 'utf8')) as { frames: number[][][] };
  const kpFile = path.join(tmp, 'kp.json');
  fs.writeFileSync(kpFile, JSON.stringify({ frames: doc.frames.slice(0, 80) }));
  const robot = path.join(CONFIG_DIR, 'teleop/allegro_hand_right.yml');

  it('writes JSON {joint_names, frames, residuals} identical to retargeting in memory', async () => {
    const out = path.join(tmp, 'out', 'allegro.json');
    const s = await retargetFile({ robot, urdfDir: HANDS_DIR, keypoints: kpFile, out });
    expect(s.frames).toBe(80);
    expect(s.seconds).toBeGreaterThan(0);
    const body = JSON.parse(fs.readFileSync(out, 'utf8')) as { joint_names: string[]; frames: number[][]; residuals: number[] };
    expect(Object.keys(body).sort()).toEqual(['frames', 'joint_names', 'residuals']);
    expect(body.joint_names.length).toBe(16);
    expect(body.frames.length).toBe(80);
    expect(body.frames.every((q) => q.length === 16)).toBe(true);
    expect(s.meanResidual).toBeCloseTo(body.residuals.reduce((a, b) => a + b, 0) / 80, 12);
    const rt = Retargeter.fromConfig(robot, HANDS_DIR);
    const ref = doc.frames.slice(0, 80).map((f) => rt.retarget(f));
    expect(body.frames[79]).toEqual(Array.from(ref[79].q));
    expect(body.residuals[40]).toBe(ref[40].residual);
  });

  it('writes Parquet readable by DuckDB, with the joint names in the file metadata', async () => {
    const out = path.join(tmp, 'allegro.parquet');
    const s = await retargetFile({ robot, urdfDir: HANDS_DIR, keypoints: kpFile, out });
    expect(s.frames).toBe(80);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const lit = `'${out.replace(/'/g, "''")}'`;
      const rows = (await conn.runAndReadAll(`SELECT frame, len(q) AS n, q[1] AS q1, residual FROM read_parquet(${lit}) ORDER BY frame`)).getRowObjectsJson();
      expect(rows.length).toBe(80);
      expect(rows[0].frame).toBe(0);
      expect(rows.every((r) => Number(r.n) === 16)).toBe(true);
      const json = JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'allegro.json'), 'utf8')) as { frames: number[][]; residuals: number[]; joint_names: string[] };
      expect(Number(rows[10].q1)).toBe(json.frames[10][0]);
      expect(Number(rows[10].residual)).toBe(json.residuals[10]);
      const meta = (await conn.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${lit})`)).getRowObjectsJson();
      const kv = Object.fromEntries(meta.map((r) => [String(r.k), String(r.v)]));
      expect(JSON.parse(kv.joint_names)).toEqual(json.joint_names);
      expect(kv.type).toBe('vector');
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });

  it('rejects malformed keypoints and unknown output formats', async () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ frames: [doc.frames[0].slice(0, 20)] }));
    await expect(retargetFile({ robot, urdfDir: HANDS_DIR, keypoints: bad, out: path.join(tmp, 'x.json') })).rejects.toThrowError(/frame 0 must hold 21 keypoints/);
    await expect(retargetFile({ robot, urdfDir: HANDS_DIR, keypoints: kpFile, out: path.join(tmp, 'x.csv') })).rejects.toThrowError(/\.json or \.parquet/);
  });
});

describe('egopipe retarget with Parquet keypoints', () => {
  it('reads a keypoints list column ordered by frame and gives the same trajectory as the JSON input', async () => {
    const { retargetFile } = await import('../../operators/retarget/cli.js');
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const fsm = await import('node:fs');
    const pathm = await import('node:path');
    const os = await import('node:os');
    const root = pathm.resolve(pathm.dirname(new URL(import.meta.url).pathname), '..', '..');
    const shared = pathm.resolve(root, '..', 'shared', 'data');
    const json = pathm.join(shared, 'hands', 'human_joint_right.json');
    const frames = (JSON.parse(fsm.readFileSync(json, 'utf8')).frames as number[][][]).slice(0, 60);
    const dir = fsm.mkdtempSync(pathm.join(os.tmpdir(), 'egopipe-rt-pq-'));
    const small = pathm.join(dir, 'k.json');
    fsm.writeFileSync(small, JSON.stringify({ frames }));
    // rows written in reverse order: the frame column must restore the order
    const nd = pathm.join(dir, 'k.ndjson');
    fsm.writeFileSync(nd, frames.map((f, i) => JSON.stringify({ frame: i, keypoints: f })).reverse().join('\n'));
    const pq = pathm.join(dir, 'k.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT * FROM read_json('${nd}', columns={frame: 'INTEGER', keypoints: 'DOUBLE[][]'})) TO '${pq}' (FORMAT parquet)`);
    const robot = pathm.join(shared, 'robots', 'retargeting', 'teleop', 'allegro_hand_right.yml');
    const urdfDir = pathm.join(shared, 'robots', 'hands');
    await retargetFile({ robot, urdfDir, keypoints: small, out: pathm.join(dir, 'a.json') });
    await retargetFile({ robot, urdfDir, keypoints: pq, out: pathm.join(dir, 'b.json') });
    const a = JSON.parse(fsm.readFileSync(pathm.join(dir, 'a.json'), 'utf8'));
    const b = JSON.parse(fsm.readFileSync(pathm.join(dir, 'b.json'), 'utf8'));
    expect(b.frames.length).toBe(60);
    expect(b.frames).toEqual(a.frames);
    await expect(retargetFile({ robot, urdfDir, keypoints: pathm.join(dir, 'missing.parquet'), out: pathm.join(dir, 'c.json') })).rejects.toThrow(/cannot read keypoints/);
  });
});
