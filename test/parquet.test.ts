/** The commit protocol: a crash between any two steps never exposes partial or duplicate rows. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Manifest } from '../src/manifest.js';
import { OutputStore, STAGING } from '../src/parquet.js';
import type { TableSpec } from '../operators/types.js';
import { tmpDir } from './helpers/fixtures.js';
import { DuckDBInstance } from '@duckdb/node-api';

const spec: TableSpec = { name: 't', description: '', columns: { id: 'INTEGER', v: 'FLOAT[]', s: 'VARCHAR' } };

async function readAll(out: string): Promise<Array<{ id: number }>> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const glob = path.join(out, 't', '**', '*.parquet');
  if (!fs.existsSync(path.join(out, 't'))) return [];
  const any = (d: string): boolean =>
    fs.readdirSync(d, { withFileTypes: true }).some((e) => (e.isDirectory() ? any(path.join(d, e.name)) : e.name.endsWith('.parquet')));
  if (!any(path.join(out, 't'))) return [];
  const r = await c.runAndReadAll(`SELECT id FROM read_parquet('${glob}', hive_partitioning=true) ORDER BY id`);
  return r.getRowObjectsJson() as Array<{ id: number }>;
}

function setup() {
  const out = tmpDir();
  const m = new Manifest(Manifest.pathIn(out));
  const s = new OutputStore(out, 'run1', m, new Map([['t', spec]]));
  s.recover();
  return { out, m, s };
}

describe('OutputStore', () => {
  it('writes typed rows (lists, NaN -> null, typed arrays) and commits with the manifest transaction', async () => {
    const { out, m, s } = setup();
    s.add('t', [
      { id: 1, v: new Float32Array([1.5, 2]), s: 'a' },
      { id: 2, v: [NaN, 3], s: null },
    ]);
    let ran = false;
    const w = await s.commit(() => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(w).toEqual({ t: 2 });
    expect(m.parts()).toHaveLength(1);
    expect(await readAll(out)).toEqual([{ id: 1 }, { id: 2 }]);
    s.close();
    m.close();
  });

  it('a failed transaction leaves no visible file; recover() deletes the staged leftovers', async () => {
    const { out, m, s } = setup();
    s.add('t', [{ id: 1, v: [], s: 'x' }]);
    await expect(s.commit(() => {
      throw new Error('crash inside the transaction');
    })).rejects.toThrow(/crash/);
    expect(await readAll(out)).toEqual([]);
    expect(fs.readdirSync(path.join(out, STAGING)).length).toBe(1);
    const s2 = new OutputStore(out, 'run2', m, new Map([['t', spec]]));
    expect(s2.recover()).toEqual({ rolledForward: 0, removed: 1 });
    expect(fs.readdirSync(path.join(out, STAGING))).toEqual([]);
    s.close();
    s2.close();
    m.close();
  });

  it('a part registered but not yet renamed (crash after the transaction) is rolled forward exactly once', async () => {
    const { out, m, s } = setup();
    s.add('t', [{ id: 7, v: [1], s: 'y' }]);
    await s.commit(() => undefined);
    // simulate the crash window: move the final file back to its staging name
    const part = m.parts()[0];
    fs.renameSync(path.join(out, part.path), path.join(out, part.tmp_path));
    expect(await readAll(out)).toEqual([]);
    const s2 = new OutputStore(out, 'run2', m, new Map([['t', spec]]));
    expect(s2.recover()).toEqual({ rolledForward: 1, removed: 0 });
    expect(s2.recover()).toEqual({ rolledForward: 0, removed: 0 });
    expect(await readAll(out)).toEqual([{ id: 7 }]);
    s.close();
    s2.close();
    m.close();
  });
});

describe('manifest schema version', () => {
  it('refuses an --out written with another manifest schema, with what to do', async () => {
    const { Manifest: M, ManifestVersionError } = await import('../src/manifest.js');
    const out = tmpDir();
    const m = new M(M.pathIn(out));
    m.setMeta('schema_version', '1');
    m.close();
    expect(() => new M(M.pathIn(out))).toThrow(ManifestVersionError);
    expect(() => new M(M.pathIn(out))).toThrow(/use a new --out/i);
  });
});
