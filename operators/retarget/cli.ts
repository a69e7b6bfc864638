/**
 * File-level retargeting: keypoints JSON in, joint trajectories out (JSON or Parquet).
 *
 * Input JSON: { "frames": [ [[x, y, z] x 21], ... ] } - 21 MediaPipe-order keypoints per frame,
 * metres, already in the operator (wrist) frame: no transform is applied.
 * Output:
 *   .json    -> { "joint_names": [...], "frames": [[q...], ...], "residuals": [...] }
 *   .parquet -> one row per frame: frame INTEGER, q DOUBLE[], residual DOUBLE; the joint names, the
 *               config path and the optimizer type are in the file's key-value metadata
 *               (SELECT decode(key), decode(value) FROM parquet_kv_metadata('out.parquet')).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqlString } from '../../src/parquet.js';
import { Retargeter } from './retargeter.js';

export interface RetargetFileOptions {
  /** dex-retargeting config (.yml) */
  robot: string;
  /** folder the config's urdf_path is relative to */
  urdfDir: string;
  /** keypoints JSON shaped like human_joint_right.json */
  keypoints: string;
  /** output path: .json or .parquet */
  out: string;
}

export interface RetargetFileSummary {
  frames: number;
  meanResidual: number;
  seconds: number;
}

function readKeypoints(file: string): Float64Array[] {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read keypoints ${file}: ${(e as Error).message}`);
  }
  const frames = (doc as { frames?: unknown })?.frames;
  if (!Array.isArray(frames)) throw new Error(`${file}: expected an object with a "frames" array`);
  return frames.map((f: unknown, i: number) => {
    if (!Array.isArray(f) || f.length !== 21) throw new Error(`${file}: frame ${i} must hold 21 keypoints`);
    const out = new Float64Array(63);
    f.forEach((p: unknown, j: number) => {
      if (!Array.isArray(p) || p.length !== 3 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new Error(`${file}: frame ${i}, keypoint ${j} must be 3 finite numbers`);
      }
      out[3 * j] = p[0];
      out[3 * j + 1] = p[1];
      out[3 * j + 2] = p[2];
    });
    return out;
  });
}

/** Keypoint column names accepted in a Parquet input, in order of preference. */
export const PARQUET_KEYPOINT_COLUMNS = ['keypoints', 'joints', 'joints_op', 'kp3d'] as const;

/**
 * Parquet input: one row per frame, a list column named keypoints / joints / joints_op / kp3d
 * holding 63 numbers (or 21 lists of 3), metres, already in the wrist/operator frame; rows are
 * ordered by a `frame` column when there is one.
 */
async function readKeypointsParquet(file: string): Promise<Float64Array[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    let cols: string[];
    try {
      const d = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
      cols = (d.getRowObjectsJson() as Array<{ column_name: string }>).map((r) => r.column_name);
    } catch (e) {
      throw new Error(`cannot read keypoints ${file}: ${(e as Error).message}`);
    }
    const col = PARQUET_KEYPOINT_COLUMNS.find((c) => cols.includes(c));
    if (!col) throw new Error(`${file}: no keypoint column; expected one of ${PARQUET_KEYPOINT_COLUMNS.join(', ')} (found ${cols.join(', ')})`);
    const order = cols.includes('frame') ? ' ORDER BY "frame"' : '';
    const r = await conn.runAndReadAll(`SELECT flatten_any FROM (SELECT "${col}" AS flatten_any FROM read_parquet(${sqlString(file)})${order})`);
    return (r.getRowObjectsJson() as Array<{ flatten_any: unknown }>).map((row, i) => {
      const flat = (Array.isArray(row.flatten_any) ? (row.flatten_any as unknown[]).flat(2) : []).map(Number);
      if (flat.length !== 63 || !flat.every(Number.isFinite)) throw new Error(`${file}: row ${i}: "${col}" must hold 21 x 3 finite numbers, got ${flat.length}`);
      return Float64Array.from(flat);
    });
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}


async function writeParquet(out: string, jointNames: string[], qs: Float64Array[], residuals: number[], meta: Record<string, string>): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-retarget-'));
  const ndjson = path.join(tmpDir, 'rows.ndjson');
  const tmpOut = `${out}.tmp-${process.pid}`;
  try {
    const lines = qs.map((q, i) => JSON.stringify({ frame: i, q: Array.from(q), residual: residuals[i] }));
    fs.writeFileSync(ndjson, lines.join('\n') + '\n');
    const kv = Object.entries({ joint_names: JSON.stringify(jointNames), ...meta })
      .map(([k, v]) => `${k}: ${sqlString(v)}`)
      .join(', ');
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const conn = await db.connect();
    try {
      await conn.run(
        `COPY (SELECT frame, q, residual FROM read_json(${sqlString(ndjson)}, format='newline_delimited', ` +
          `columns={frame: 'INTEGER', q: 'DOUBLE[]', residual: 'DOUBLE'}) ORDER BY frame) ` +
          `TO ${sqlString(tmpOut)} (FORMAT parquet, COMPRESSION zstd, KV_METADATA {${kv}})`,
      );
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    fs.renameSync(tmpOut, out);
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.rmSync(tmpOut, { force: true });
  }
}

/** Retarget every frame of a keypoints file with one config and write the trajectory. */
export async function retargetFile(opts: RetargetFileOptions): Promise<RetargetFileSummary> {
  const t0 = performance.now();
  const ext = path.extname(opts.out).toLowerCase();
  if (ext !== '.json' && ext !== '.parquet') throw new Error(`output ${opts.out}: use a .json or .parquet file name`);
  const frames = /\.parquet$/i.test(opts.keypoints) ? await readKeypointsParquet(opts.keypoints) : readKeypoints(opts.keypoints);
  const rt = Retargeter.fromConfig(opts.robot, opts.urdfDir);
  const qs: Float64Array[] = [];
  const residuals: number[] = [];
  let sum = 0;
  for (let i = 0; i < frames.length; i++) {
    const r = rt.retarget(frames[i]);
    qs.push(r.q);
    residuals.push(r.residual);
    sum += r.residual;
  }
  fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  if (ext === '.json') {
    const body = { joint_names: rt.jointNames, frames: qs.map((q) => Array.from(q)), residuals };
    const tmp = `${opts.out}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(body));
    fs.renameSync(tmp, opts.out);
  } else {
    await writeParquet(opts.out, rt.jointNames, qs, residuals, { config: path.resolve(opts.robot), type: rt.config.type });
  }
  return { frames: frames.length, meanResidual: frames.length ? sum / frames.length : 0, seconds: (performance.now() - t0) / 1000 };
}
