import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, dexPilotLinkIndices, loadRetargetingConfig } from '../../operators/retarget/config.js';
import { allConfigs, CONFIG_DIR, HANDS_DIR } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-retarget-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeYaml(name: string, body: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, body);
  return p;
}

const ALLEGRO_VECTOR = `retargeting:
  type: vector
  urdf_path: allegro_hand/allegro_hand_right.urdf
  target_origin_link_names: [ "wrist", "wrist" ]
  target_task_link_names: [ "link_15.0_tip", "link_3.0_tip" ]
  target_link_human_indices: [ [ 0, 0 ], [ 4, 8 ] ]
`;

describe('loading the shipped configs', () => {
  it('loads all 39 configs with their types', () => {
    const cfgs = allConfigs();
    expect(cfgs.length).toBe(39);
    const types: Record<string, number> = {};
    for (const c of cfgs) {
      const cfg = loadRetargetingConfig(path.join(CONFIG_DIR, c), HANDS_DIR);
      types[cfg.type] = (types[cfg.type] ?? 0) + 1;
      expect(path.isAbsolute(cfg.urdfPath)).toBe(true);
      expect(fs.existsSync(cfg.urdfPath)).toBe(true);
    }
    expect(types).toEqual({ vector: 13, dexpilot: 13, position: 13 });
  });

  it('applies dex-retargeting defaults and the values given in the file', () => {
    const v = loadRetargetingConfig(path.join(CONFIG_DIR, 'teleop/allegro_hand_right.yml'), HANDS_DIR);
    expect(v).toMatchObject({ type: 'vector', scalingFactor: 1.6, lowPassAlpha: 0.2, normalDelta: 4e-3, huberDelta: 2e-2, addDummyFreeJoint: false, hasJointLimits: true, ignoreMimicJoint: false, targetJointNames: null });
    expect(v.targetLinkHumanIndices).toEqual([
      [0, 0, 0, 0],
      [4, 8, 12, 16],
    ]);
    const d = loadRetargetingConfig(path.join(CONFIG_DIR, 'teleop/shadow_hand_left_dexpilot.yml'), HANDS_DIR);
    expect(d).toMatchObject({ type: 'dexpilot', huberDelta: 0.03, projectDist: 0.03, escapeDist: 0.05, wristLinkName: 'ee_link', scalingFactor: 1.2 });
    expect(d.targetLinkHumanIndices[1]).toEqual([4, 4, 4, 4, 8, 8, 8, 12, 12, 16, 4, 8, 12, 16, 20]);
    const p = loadRetargetingConfig(path.join(CONFIG_DIR, 'offline/inspire_hand_right.yml'), HANDS_DIR);
    expect(p).toMatchObject({ type: 'position', addDummyFreeJoint: true, lowPassAlpha: 1, scalingFactor: 1 });
    expect(p.targetJointNames!.length).toBe(12);
    expect(p.targetJointNames!.slice(0, 3)).toEqual(['dummy_x_translation_joint', 'dummy_y_translation_joint', 'dummy_z_translation_joint']);
    expect(p.robot.root).toBe('dummy_x_translation_link');
    // defaults when the file says nothing
    const minimal = loadRetargetingConfig(writeYaml('minimal.yml', ALLEGRO_VECTOR), HANDS_DIR);
    expect(minimal).toMatchObject({ scalingFactor: 1, lowPassAlpha: 0.1, normalDelta: 4e-3, huberDelta: 0.02 });
    const alias = loadRetargetingConfig(writeYaml('alias.yml', ALLEGRO_VECTOR + '  norm_delta: 0.01\n'), HANDS_DIR);
    expect(alias.normalDelta).toBe(0.01);
  });

  it('lays out DexPilot vectors as dex-retargeting does', () => {
    expect(dexPilotLinkIndices(4)).toEqual({ origin: [2, 3, 4, 3, 4, 4, 0, 0, 0, 0], task: [1, 1, 1, 2, 2, 3, 1, 2, 3, 4] });
    expect(dexPilotLinkIndices(2)).toEqual({ origin: [2, 0, 0], task: [1, 1, 2] });
  });
});

describe('config errors name the file and the field', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown.yml', ALLEGRO_VECTOR + '  huber: 0.1\n', /unknown\.yml: retargeting\.huber: unknown key/],
    ['badlink.yml', ALLEGRO_VECTOR.replace('link_3.0_tip', 'link_99_tip'), /badlink\.yml: retargeting\.target_task_link_names: link 'link_99_tip' does not exist in .*allegro_hand_right\.urdf/],
    ['badtype.yml', ALLEGRO_VECTOR.replace('type: vector', 'type: magic'), /badtype\.yml: retargeting\.type: must be one of vector, position, dexpilot; got 'magic'/],
    ['nourdf.yml', ALLEGRO_VECTOR.replace('allegro_hand_right.urdf', 'nope.urdf'), /nourdf\.yml: retargeting\.urdf_path: URDF .*nope\.urdf does not exist/],
    ['shape.yml', ALLEGRO_VECTOR.replace('[ [ 0, 0 ], [ 4, 8 ] ]', '[ [ 0, 0, 0 ], [ 4, 8, 12 ] ]'), /shape\.yml: retargeting\.target_link_human_indices: must have shape \[2, 2\]/],
    ['index.yml', ALLEGRO_VECTOR.replace('[ 4, 8 ]', '[ 4, 21 ]'), /index\.yml: retargeting\.target_link_human_indices: every index must be an integer keypoint index in 0\.\.20/],
    ['noblock.yml', 'type: vector\n', /noblock\.yml: expected a top-level 'retargeting:' block/],
    ['scaling.yml', ALLEGRO_VECTOR + '  scaling_factor: -1\n', /scaling\.yml: retargeting\.scaling_factor: must be > 0/],
    [
      'mimic.yml',
      `retargeting:\n  type: vector\n  urdf_path: inspire_hand/inspire_hand_right.urdf\n  target_joint_names: [ 'index_proximal_joint', 'index_intermediate_joint' ]\n  target_origin_link_names: [ base ]\n  target_task_link_names: [ index_tip ]\n  target_link_human_indices: [ [ 0 ], [ 8 ] ]\n`,
      /mimic\.yml: retargeting\.target_joint_names: joint 'index_intermediate_joint' is a mimic joint \(driven by 'index_proximal_joint'\)/,
    ],
    [
      'nojoint.yml',
      `retargeting:\n  type: position\n  urdf_path: allegro_hand/allegro_hand_right.urdf\n  target_joint_names: [ 'joint_0.0', 'joint_77' ]\n  target_link_names: [ link_3.0_tip ]\n  target_link_human_indices: [ 8 ]\n`,
      /nojoint\.yml: retargeting\.target_joint_names: joint 'joint_77' does not exist/,
    ],
    ['dexpilot.yml', `retargeting:\n  type: DexPilot\n  urdf_path: allegro_hand/allegro_hand_right.urdf\n  finger_tip_link_names: [ link_3.0_tip, link_7.0_tip ]\n`, /dexpilot\.yml: retargeting\.wrist_link_name: is required for DexPilot retargeting/],
  ];
  for (const [name, body, re] of cases) {
    it(name, () => {
      const p = writeYaml(name, body);
      expect(() => loadRetargetingConfig(p, HANDS_DIR)).toThrowError(ConfigError);
      expect(() => loadRetargetingConfig(p, HANDS_DIR)).toThrowError(re);
    });
  }
});
