/** All operators by name. Adding an op = one folder under operators/ + one line here. */
import type { OperatorSpec, TableSpec } from './types.js';
import { op as probe } from './probe/index.js';
import { op as sceneDetect } from './scene_detect/index.js';
import { op as clips } from './clips/index.js';
import { op as debugFault } from './debug_fault/index.js';
import { op as debugModel } from './debug_model/index.js';
import { op as handKeypoints } from './hand_keypoints/index.js';
import { op as handMask } from './hand_mask/index.js';
import { op as handPose3d } from './hand_pose_3d/index.js';
import { op as retarget } from './retarget/index.js';
import { op as objectDetect } from './object_detect/index.js';
import { op as objectMasks } from './object_masks/index.js';
import { op as depth } from './depth/index.js';
import { op as lift3d } from './lift3d/index.js';
import { op as objectMotion } from './object_motion/index.js';
import { op as objectPose } from './object_pose/index.js';

export const OPERATORS: Readonly<Record<string, OperatorSpec>> = Object.freeze({
  [probe.name]: probe,
  [sceneDetect.name]: sceneDetect,
  [clips.name]: clips,
  [handKeypoints.name]: handKeypoints as OperatorSpec,
  [handMask.name]: handMask as OperatorSpec,
  [handPose3d.name]: handPose3d as OperatorSpec,
  [retarget.name]: retarget as OperatorSpec,
  [objectDetect.name]: objectDetect as OperatorSpec,
  [objectMasks.name]: objectMasks as OperatorSpec,
  [depth.name]: depth as OperatorSpec,
  [lift3d.name]: lift3d as OperatorSpec,
  [objectMotion.name]: objectMotion as OperatorSpec,
  [objectPose.name]: objectPose as OperatorSpec,
  [debugFault.name]: debugFault,
  [debugModel.name]: debugModel as OperatorSpec,
});

export function getOp(name: string): OperatorSpec {
  const op = OPERATORS[name];
  if (!op) throw new Error(`unknown op "${name}"`);
  return op;
}

export function allTables(): TableSpec[] {
  return Object.values(OPERATORS).flatMap((o) => [...o.outputs]);
}
