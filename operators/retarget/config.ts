/**
 * dex-retargeting YAML configuration loader.
 *
 * Reads the `retargeting:` block of a dex-retargeting config, applies dex-retargeting's defaults,
 * resolves `urdf_path` against a URDF directory and checks every link / joint name against the
 * URDF. Errors name the config file and the field.
 *
 * Defaults (dex-retargeting RetargetingConfig / optimizer constructors):
 *   add_dummy_free_joint false, scaling_factor 1.0, normal_delta 4e-3, huber_delta 2e-2
 *   (DexPilot: 3e-2, its optimizer's own default, which dex-retargeting's config does not override),
 *   project_dist 0.03, escape_dist 0.05, has_joint_limits true, ignore_mimic_joint false,
 *   low_pass_alpha 0.1 (a value outside [0, 1] disables the filter), target_joint_names null = all
 *   movable non-mimic joints. DexPilot's human indices default to wrist (0) and fingertips (4, 8, ...).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { addDummyFreeJoint as withDummyFreeJoint, DUMMY_JOINT_NAMES, loadUrdf, type UrdfRobot } from './urdf.js';

export type RetargetingType = 'vector' | 'position' | 'dexpilot';

export interface RetargetingConfig {
  /** absolute path of the YAML file ('<object>' when built from an object) */
  file: string;
  type: RetargetingType;
  /** absolute, resolved URDF path */
  urdfPath: string;
  addDummyFreeJoint: boolean;
  /** vector / dexpilot: [originIdx[], taskIdx[]]; position: [idx[]] (one row) */
  targetLinkHumanIndices: number[][];
  wristLinkName: string | null;
  targetLinkNames: string[] | null;
  /** joints optimised (dummy free joint names prepended when addDummyFreeJoint); null = all active joints */
  targetJointNames: string[] | null;
  targetOriginLinkNames: string[] | null;
  targetTaskLinkNames: string[] | null;
  fingerTipLinkNames: string[] | null;
  scalingFactor: number;
  normalDelta: number;
  huberDelta: number;
  projectDist: number;
  escapeDist: number;
  hasJointLimits: boolean;
  ignoreMimicJoint: boolean;
  lowPassAlpha: number;
  /** the URDF as loaded (with the dummy free joint added when requested) */
  robot: UrdfRobot;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const KNOWN_KEYS = new Set([
  'type',
  'urdf_path',
  'add_dummy_free_joint',
  'target_link_human_indices',
  'wrist_link_name',
  'target_link_names',
  'target_joint_names',
  'target_origin_link_names',
  'target_task_link_names',
  'finger_tip_link_names',
  'scaling_factor',
  'normal_delta',
  'norm_delta', // accepted alias of normal_delta
  'huber_delta',
  'project_dist',
  'escape_dist',
  'has_joint_limits',
  'ignore_mimic_joint',
  'low_pass_alpha',
]);

/** Load a config file and resolve its URDF against `urdfDir` (urdf_path is relative to it). */
export function loadRetargetingConfig(configPath: string, urdfDir: string, override?: Record<string, unknown>): RetargetingConfig {
  const file = path.resolve(configPath);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read retargeting config ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !('retargeting' in doc)) {
    throw new ConfigError(`${file}: expected a top-level 'retargeting:' block`);
  }
  const block = (doc as Record<string, unknown>).retargeting;
  if (!block || typeof block !== 'object' || Array.isArray(block)) throw new ConfigError(`${file}: 'retargeting' must be a mapping`);
  return retargetingConfigFromObject({ ...(block as Record<string, unknown>), ...(override ?? {}) }, urdfDir, file);
}

function fieldErr(file: string, field: string, msg: string): ConfigError {
  return new ConfigError(`${file}: retargeting.${field}: ${msg}`);
}

function optString(cfg: Record<string, unknown>, key: string, file: string): string | null {
  const v = cfg[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !v.trim()) throw fieldErr(file, key, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v.trim();
}

function optStringList(cfg: Record<string, unknown>, key: string, file: string): string[] | null {
  const v = cfg[key];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !s)) throw fieldErr(file, key, `expected a list of names, got ${JSON.stringify(v)}`);
  return v.map((s: string) => s.trim());
}

function optNumber(cfg: Record<string, unknown>, key: string, def: number, file: string, check?: (v: number) => string | null): number {
  const v = cfg[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw fieldErr(file, key, `expected a number, got ${JSON.stringify(v)}`);
  const bad = check?.(v);
  if (bad) throw fieldErr(file, key, bad);
  return v;
}

function optBool(cfg: Record<string, unknown>, key: string, def: boolean, file: string): boolean {
  const v = cfg[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw fieldErr(file, key, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

const positive = (v: number) => (v > 0 ? null : `must be > 0, got ${v}`);
const nonNegative = (v: number) => (v >= 0 ? null : `must be >= 0, got ${v}`);

function humanIndexRows(v: unknown, file: string): number[][] {
  const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 20;
  if (!Array.isArray(v) || v.length === 0) throw fieldErr(file, 'target_link_human_indices', 'expected a list of keypoint indices (0..20)');
  const rows: unknown[][] = Array.isArray(v[0]) ? (v as unknown[][]) : [v];
  for (const r of rows) {
    if (!Array.isArray(r) || !r.every(ok)) {
      throw fieldErr(file, 'target_link_human_indices', `every index must be an integer keypoint index in 0..20, got ${JSON.stringify(v)}`);
    }
  }
  const len = rows[0].length;
  if (rows.some((r) => r.length !== len)) throw fieldErr(file, 'target_link_human_indices', 'rows have different lengths');
  return rows as number[][];
}

/**
 * Build a config from the contents of a `retargeting:` block. `file` is used in error messages and
 * as the config's identity.
 */
export function retargetingConfigFromObject(cfg: Record<string, unknown>, urdfDir: string, file = '<object>'): RetargetingConfig {
  for (const k of Object.keys(cfg)) {
    if (!KNOWN_KEYS.has(k)) throw fieldErr(file, k, `unknown key (known keys: ${[...KNOWN_KEYS].join(', ')})`);
  }
  if ('normal_delta' in cfg && 'norm_delta' in cfg) throw fieldErr(file, 'norm_delta', 'give either normal_delta or its alias norm_delta, not both');
  const typeRaw = cfg.type;
  if (typeof typeRaw !== 'string') throw fieldErr(file, 'type', 'is required: vector, position or DexPilot');
  const type = typeRaw.toLowerCase() as RetargetingType;
  if (type !== 'vector' && type !== 'position' && type !== 'dexpilot') {
    throw fieldErr(file, 'type', `must be one of vector, position, dexpilot; got '${typeRaw}'`);
  }
  const urdfRel = optString(cfg, 'urdf_path', file);
  if (!urdfRel) throw fieldErr(file, 'urdf_path', 'is required');
  const urdfPath = path.isAbsolute(urdfRel) ? urdfRel : path.resolve(urdfDir, urdfRel);
  if (!fs.existsSync(urdfPath)) throw fieldErr(file, 'urdf_path', `URDF ${urdfPath} does not exist (resolved against ${path.resolve(urdfDir)})`);

  const addDummyFreeJoint = optBool(cfg, 'add_dummy_free_joint', false, file);
  const wristLinkName = optString(cfg, 'wrist_link_name', file);
  const targetLinkNames = optStringList(cfg, 'target_link_names', file);
  let targetJointNames = optStringList(cfg, 'target_joint_names', file);
  const targetOriginLinkNames = optStringList(cfg, 'target_origin_link_names', file);
  const targetTaskLinkNames = optStringList(cfg, 'target_task_link_names', file);
  const fingerTipLinkNames = optStringList(cfg, 'finger_tip_link_names', file);
  const scalingFactor = optNumber(cfg, 'scaling_factor', 1.0, file, positive);
  const normalDelta = 'norm_delta' in cfg ? optNumber(cfg, 'norm_delta', 4e-3, file, nonNegative) : optNumber(cfg, 'normal_delta', 4e-3, file, nonNegative);
  const huberDelta = optNumber(cfg, 'huber_delta', type === 'dexpilot' ? 3e-2 : 2e-2, file, positive);
  const projectDist = optNumber(cfg, 'project_dist', 0.03, file, nonNegative);
  const escapeDist = optNumber(cfg, 'escape_dist', 0.05, file, nonNegative);
  if (escapeDist < projectDist) throw fieldErr(file, 'escape_dist', `must be >= project_dist (${projectDist}), got ${escapeDist}`);
  const hasJointLimits = optBool(cfg, 'has_joint_limits', true, file);
  const ignoreMimicJoint = optBool(cfg, 'ignore_mimic_joint', false, file);
  const lowPassAlpha = optNumber(cfg, 'low_pass_alpha', 0.1, file);

  let indices: number[][] | null = cfg.target_link_human_indices == null ? null : humanIndexRows(cfg.target_link_human_indices, file);

  if (type === 'vector') {
    if (!targetOriginLinkNames) throw fieldErr(file, 'target_origin_link_names', 'is required for vector retargeting');
    if (!targetTaskLinkNames) throw fieldErr(file, 'target_task_link_names', 'is required for vector retargeting');
    if (targetOriginLinkNames.length !== targetTaskLinkNames.length) {
      throw fieldErr(file, 'target_task_link_names', `has ${targetTaskLinkNames.length} names but target_origin_link_names has ${targetOriginLinkNames.length}`);
    }
    if (!indices) throw fieldErr(file, 'target_link_human_indices', 'is required for vector retargeting');
    if (indices.length !== 2 || indices[0].length !== targetOriginLinkNames.length) {
      throw fieldErr(file, 'target_link_human_indices', `must have shape [2, ${targetOriginLinkNames.length}] (origin row, task row)`);
    }
  } else if (type === 'position') {
    if (!targetLinkNames) throw fieldErr(file, 'target_link_names', 'is required for position retargeting');
    if (!indices) throw fieldErr(file, 'target_link_human_indices', 'is required for position retargeting');
    if (indices.length !== 1 || indices[0].length !== targetLinkNames.length) {
      throw fieldErr(file, 'target_link_human_indices', `must be a list of ${targetLinkNames.length} indices, one per target link`);
    }
  } else {
    if (!fingerTipLinkNames) throw fieldErr(file, 'finger_tip_link_names', 'is required for DexPilot retargeting');
    if (!wristLinkName) throw fieldErr(file, 'wrist_link_name', 'is required for DexPilot retargeting');
    const nf = fingerTipLinkNames.length;
    if (nf < 2 || nf > 5) throw fieldErr(file, 'finger_tip_link_names', `DexPilot needs 2 to 5 fingertips, got ${nf}`);
    const { origin, task } = dexPilotLinkIndices(nf);
    const nvec = origin.length;
    if (indices) {
      if (indices.length !== 2 || indices[0].length !== nvec) {
        throw fieldErr(file, 'target_link_human_indices', `must have shape [2, ${nvec}] for ${nf} fingertips`);
      }
    } else {
      indices = [origin.map((i) => 4 * i), task.map((i) => 4 * i)];
    }
  }

  // URDF checks
  let robot = loadUrdf(urdfPath);
  if (addDummyFreeJoint) robot = withDummyFreeJoint(robot);
  const links = new Set(robot.links.map((l) => l.name));
  const checkLinks = (field: string, names: string[] | null) => {
    if (!names) return;
    for (const n of names) {
      if (!links.has(n)) throw fieldErr(file, field, `link '${n}' does not exist in ${urdfPath}`);
    }
  };
  checkLinks('target_origin_link_names', targetOriginLinkNames);
  checkLinks('target_task_link_names', targetTaskLinkNames);
  checkLinks('target_link_names', targetLinkNames);
  checkLinks('finger_tip_link_names', fingerTipLinkNames);
  checkLinks('wrist_link_name', wristLinkName ? [wristLinkName] : null);
  if (targetJointNames) {
    const byName = new Map(robot.joints.map((j) => [j.name, j]));
    const seen = new Set<string>();
    for (const n of targetJointNames) {
      const j = byName.get(n);
      if (!j) throw fieldErr(file, 'target_joint_names', `joint '${n}' does not exist in ${urdfPath}`);
      if (j.type === 'fixed') throw fieldErr(file, 'target_joint_names', `joint '${n}' is a fixed joint`);
      if (j.mimic && !ignoreMimicJoint) {
        throw fieldErr(file, 'target_joint_names', `joint '${n}' is a mimic joint (driven by '${j.mimic.joint}'); list its source joint instead`);
      }
      if (seen.has(n)) throw fieldErr(file, 'target_joint_names', `joint '${n}' is listed twice`);
      seen.add(n);
    }
    if (addDummyFreeJoint) targetJointNames = [...DUMMY_JOINT_NAMES, ...targetJointNames];
  }
  return {
    file,
    type,
    urdfPath,
    addDummyFreeJoint,
    targetLinkHumanIndices: indices!,
    wristLinkName,
    targetLinkNames,
    targetJointNames,
    targetOriginLinkNames,
    targetTaskLinkNames,
    fingerTipLinkNames,
    scalingFactor,
    normalDelta,
    huberDelta,
    projectDist,
    escapeDist,
    hasJointLimits,
    ignoreMimicJoint,
    lowPassAlpha,
    robot,
  };
}

/**
 * DexPilot's vector layout for n fingertips (link 0 = wrist, 1..n = fingertips): first every
 * fingertip pair (origin j > task i), then wrist -> each fingertip.
 * n = 4: origin [2,3,4,3,4,4,0,0,0,0], task [1,1,1,2,2,3,1,2,3,4].
 */
export function dexPilotLinkIndices(n: number): { origin: number[]; task: number[] } {
  const origin: number[] = [];
  const task: number[] = [];
  for (let i = 1; i < n; i++) {
    for (let j = i + 1; j <= n; j++) {
      origin.push(j);
      task.push(i);
    }
  }
  for (let i = 1; i <= n; i++) {
    origin.push(0);
    task.push(i);
  }
  return { origin, task };
}
