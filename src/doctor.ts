/** `egopipe doctor`: what this machine offers the pipeline. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { hwaccels, resolveTool, setToolPaths } from './ffmpeg.js';
import { CUDA_INSTALL_HINT, cudaProviderInstalled } from './onnx/providers.js';

const require = createRequire(import.meta.url);

export interface DoctorReport {
  ok: boolean;
  node: string;
  cpus: number;
  memory_gb: number;
  ffmpeg: { path: string; source: string; version: string } | { error: string };
  ffprobe: { path: string; source: string; version: string } | { error: string };
  hwaccels: string[];
  onnxruntime: {
    version: string | null;
    providers: Array<{ name: string; bundled: boolean }>;
    /** onnxruntime-node's CUDA provider library is present (ONNXRUNTIME_NODE_INSTALL=cuda12) */
    cuda_installed: boolean;
    /** providers model workers can use on this machine: cpu, plus cuda with GPUs and the CUDA provider */
    usable: string[];
    error?: string;
  };
  gpus: string[];
  disk: { path: string; free_gb: number; total_gb: number } | null;
  problems: string[];
}

export async function doctor(opts: { out?: string; ffmpeg?: string; ffprobe?: string } = {}): Promise<DoctorReport> {
  setToolPaths({ ffmpeg: opts.ffmpeg, ffprobe: opts.ffprobe });
  const problems: string[] = [];
  const tool = (t: 'ffmpeg' | 'ffprobe') => {
    try {
      const i = resolveTool(t);
      return { path: i.path, source: i.source, version: i.version };
    } catch (e) {
      problems.push((e as Error).message);
      return { error: (e as Error).message };
    }
  };
  const ff = tool('ffmpeg');
  const fp = tool('ffprobe');
  let hw: string[] = [];
  if (!('error' in ff)) hw = hwaccels();
  const ort: DoctorReport['onnxruntime'] = { version: null, providers: [], cuda_installed: cudaProviderInstalled(), usable: [] };
  try {
    ort.version = (require('onnxruntime-node/package.json') as { version: string }).version;
    const m = (await import('onnxruntime-node')) as unknown as { listSupportedBackends?: () => Array<{ name: string; bundled: boolean }> };
    ort.providers = m.listSupportedBackends?.() ?? [];
  } catch (e) {
    ort.error = (e as Error).message;
    problems.push(`onnxruntime-node cannot load: ${ort.error}`);
  }
  const gpus: string[] = [];
  const smi = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
  if (smi.status === 0) gpus.push(...smi.stdout.split('\n').filter(Boolean));
  if (!ort.error) ort.usable = gpus.length && ort.cuda_installed ? ['cuda', 'cpu'] : ['cpu'];
  if (gpus.length && !ort.cuda_installed) problems.push(`${gpus.length} GPU(s) seen but ${CUDA_INSTALL_HINT}`);
  let disk: DoctorReport['disk'] = null;
  const target = path.resolve(opts.out ?? '.');
  let probe = target;
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  try {
    const s = fs.statfsSync(probe);
    disk = { path: target, free_gb: (s.bavail * s.bsize) / 2 ** 30, total_gb: (s.blocks * s.bsize) / 2 ** 30 };
    if (disk.free_gb < 1) problems.push(`less than 1 GiB free at ${target}`);
  } catch {
    /* statfs unsupported */
  }
  return {
    ok: problems.length === 0,
    node: process.version,
    cpus: os.availableParallelism(),
    memory_gb: os.totalmem() / 2 ** 30,
    ffmpeg: ff,
    ffprobe: fp,
    hwaccels: hw,
    onnxruntime: ort,
    gpus,
    disk,
    problems,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const t = (x: DoctorReport['ffmpeg']) => ('error' in x ? `MISSING — ${x.error}` : `${x.version}  (${x.path}, from ${x.source})`);
  return [
    `node         ${r.node}`,
    `cpu cores    ${r.cpus}   memory ${r.memory_gb.toFixed(1)} GiB`,
    `ffmpeg       ${t(r.ffmpeg)}`,
    `ffprobe      ${t(r.ffprobe)}`,
    `hwaccels     ${r.hwaccels.length ? r.hwaccels.join(', ') : '(none)'}`,
    `onnxruntime  ${r.onnxruntime.version ?? 'not loadable'}; usable providers: ${r.onnxruntime.usable.join(', ') || '-'}`,
    `             CUDA provider ${r.onnxruntime.cuda_installed ? 'installed' : 'not installed (GPU hosts: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci)'}`,
    `GPUs         ${r.gpus.length ? r.gpus.join('; ') : 'none seen (nvidia-smi absent or no GPU): model ops use the CPU provider'}`,
    `disk         ${r.disk ? `${r.disk.free_gb.toFixed(1)} GiB free of ${r.disk.total_gb.toFixed(1)} GiB at ${r.disk.path}` : 'unknown'}`,
    r.problems.length ? `problems:\n${r.problems.map((p) => '  - ' + p).join('\n')}` : 'no problems found',
  ].join('\n');
}
