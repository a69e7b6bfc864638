/**
 * Thin onnxruntime-node adapter for the two MediaPipe hand models (converted to ONNX).
 *
 * Both models have a fixed batch dimension of 1 ([1,3,128,128] and [1,3,224,224]); onnxruntime
 * rejects any other batch size, so frames and hands are run one at a time (no batching).
 */
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';

export const PALM_INPUT_SIZE = 128;
export const LANDMARK_INPUT_SIZE = 224;

/** Where the model files come from (for error messages and the `models pull` command). */
export const HAND_MODEL_FILES = {
  palm_detection: {
    file: 'palm_detection_128.onnx',
    source:
      'https://raw.githubusercontent.com/keijiro/BlazePalmBarracuda/3499363a87deea6c468ae700f4fb72a2d427cdd6/Packages/jp.keijiro.mediapipe.blazepalm/ONNX/palm_detection_barracuda.onnx',
    sha256: '6fa415badf79694c96441b54c911ddb1b693204923a8dcd67af62e14f23730b4',
  },
  hand_landmark: {
    file: 'hand_landmark_224.onnx',
    source:
      'https://raw.githubusercontent.com/keijiro/HandLandmarkBarracuda/36308f8b8b0ac4116e9de2b6114bd37d0dd5756e/Packages/jp.keijiro.mediapipe.handlandmark/ONNX/hand_landmark.onnx',
    sha256: 'caeea4465a5b7bf68081d9ba6ce195dcb6dcbaadbe83c339a4f2860e9db7eec2',
  },
} as const;

export type HandModelName = keyof typeof HAND_MODEL_FILES;

/** A model file is absent; permanent (a retry cannot help). */
export class ModelFileMissingError extends PermanentError {
  override name = 'ModelFileMissingError';
  constructor(
    readonly model: HandModelName,
    readonly path: string,
  ) {
    super(
      `${model} model file not found: ${path}. Get it with \`egopipe models pull ${model}\` ` +
        `(${HAND_MODEL_FILES[model].file}, sha256 ${HAND_MODEL_FILES[model].sha256}, from ${HAND_MODEL_FILES[model].source}), ` +
        `or point the op's ${model === 'palm_detection' ? 'palm_model' : 'landmark_model'} param at an existing copy.`,
    );
  }
}

export interface PalmOutput {
  /** [896 * 18] */
  regressors: Float32Array;
  /** [896] logits */
  logits: Float32Array;
}

export interface LandmarkOutput {
  /** [63] x, y, z per landmark in pixels of the 224 crop */
  landmarks: Float32Array;
  /**
   * hand presence probability. Identity_1 is already a probability (a sigmoid is inside the
   * graph): measured 1.0000 on hands and <= 0.03 on background crops, never outside [0, 1].
   */
  presence: number;
  /** handedness: probability of a right hand as seen in the (un-mirrored) image, see tracker.ts */
  handedness: number;
}

export interface PalmModel {
  run(input: Float32Array): Promise<PalmOutput>;
}

export interface LandmarkModel {
  run(input: Float32Array): Promise<LandmarkOutput>;
}

export interface HandModels {
  palm: PalmModel;
  landmark: LandmarkModel;
  release(): Promise<void>;
}

export interface LoadOptions {
  palmPath: string;
  landmarkPath: string;
  /** onnxruntime intra-op threads per session (default 1) */
  threads?: number;
}

function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // the converted models carry unused initialisers; ORT warns about them on every load
    logSeverityLevel: 3,
  };
}

function f32(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`hand model output ${name} missing or not float32`);
  return t.data;
}

/** Load both sessions; throws ModelFileMissingError naming the file when one is absent. */
export async function loadHandModels(o: LoadOptions): Promise<HandModels> {
  if (!existsSync(o.palmPath)) throw new ModelFileMissingError('palm_detection', o.palmPath);
  if (!existsSync(o.landmarkPath)) throw new ModelFileMissingError('hand_landmark', o.landmarkPath);
  const opts = sessionOptions(o.threads ?? 1);
  const palmSession = await ort.InferenceSession.create(o.palmPath, opts);
  const lmSession = await ort.InferenceSession.create(o.landmarkPath, opts);
  const palmIn = palmSession.inputNames[0];
  const lmIn = lmSession.inputNames[0];
  const palmShape = [1, 3, PALM_INPUT_SIZE, PALM_INPUT_SIZE];
  const lmShape = [1, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE];
  const [lmOut, presenceOut, handedOut] = ['Identity', 'Identity_1', 'Identity_2'];
  for (const n of [lmOut, presenceOut, handedOut]) {
    if (!lmSession.outputNames.includes(n)) throw new Error(`${o.landmarkPath}: expected output ${n}, got ${lmSession.outputNames.join(', ')}`);
  }
  for (const n of ['regressors', 'classificators']) {
    if (!palmSession.outputNames.includes(n)) throw new Error(`${o.palmPath}: expected output ${n}, got ${palmSession.outputNames.join(', ')}`);
  }
  return {
    palm: {
      async run(input) {
        const r = await palmSession.run({ [palmIn]: new ort.Tensor('float32', input, palmShape) });
        return { regressors: f32(r.regressors, 'regressors'), logits: f32(r.classificators, 'classificators') };
      },
    },
    landmark: {
      async run(input) {
        const r = await lmSession.run({ [lmIn]: new ort.Tensor('float32', input, lmShape) });
        return {
          landmarks: f32(r[lmOut], lmOut),
          presence: f32(r[presenceOut], presenceOut)[0],
          handedness: f32(r[handedOut], handedOut)[0],
        };
      },
    },
    async release() {
      await palmSession.release();
      await lmSession.release();
    },
  };
}
