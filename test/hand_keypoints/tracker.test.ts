/** Tracker scheduling with fake models (no ONNX): when the palm detector runs, slots, loss. */
import { describe, expect, it } from 'vitest';
import type { HandModels, LandmarkOutput, PalmOutput } from '../../operators/hand_keypoints/models.js';
import { HandTracker } from '../../operators/hand_keypoints/tracker.js';

/** Upright hand in crop pixels (224 crop): wrist low, fingers up. */
function cropHand(): Float32Array {
  const lm = new Float32Array(63);
  const pts: Array<[number, number]> = [
    [112, 180], // 0 wrist
    [140, 170], [155, 150], [165, 130], [172, 112], // thumb
    [135, 110], [137, 85], [138, 70], [139, 58], // index
    [112, 105], [112, 78], [112, 62], [112, 50], // middle
    [90, 108], [88, 84], [87, 70], [86, 60], // ring
    [72, 115], [68, 98], [66, 88], [65, 80], // little
  ];
  pts.forEach(([x, y], i) => lm.set([x, y, 0], 3 * i));
  return lm;
}

function fakeModels(opts: { palms: Array<[number, number]>; presence: (call: number) => number }) {
  const calls = { palm: 0, landmark: 0 };
  const models: HandModels = {
    palm: {
      async run(): Promise<PalmOutput> {
        calls.palm++;
        const regressors = new Float32Array(896 * 18);
        const logits = new Float32Array(896).fill(-20);
        // stride-8 anchors: index = (gy * 16 + gx) * 2; a 16 px palm with wrist below, middle MCP above
        for (const [gx, gy] of opts.palms) {
          const i = (gy * 16 + gx) * 2;
          logits[i] = 4;
          regressors.set([0, 0, 16, 16, 0, 6, 0, 0, 0, -6], i * 18);
        }
        return { regressors, logits };
      },
    },
    landmark: {
      async run(): Promise<LandmarkOutput> {
        const c = calls.landmark++;
        return { landmarks: cropHand(), presence: opts.presence(c), handedness: 0.9 };
      },
    },
    async release() {},
  };
  return { models, calls };
}

const frame = { data: new Uint8Array(320 * 180 * 3), width: 320, height: 180 };

describe('HandTracker scheduling', () => {
  it('detects once, then tracks while max_hands hands are present', async () => {
    const { models, calls } = fakeModels({ palms: [[4, 8]], presence: () => 1 });
    const t = new HandTracker(models, { maxHands: 1 });
    for (let i = 0; i < 10; i++) {
      const hands = await t.process(frame);
      expect(hands.length).toBe(1);
      expect(hands[0].handIndex).toBe(0);
      expect(hands[0].fromDetection).toBe(i === 0);
      expect(hands[0].handedness).toBe('right');
    }
    expect(calls.palm).toBe(1);
    expect(calls.landmark).toBe(10);
  });

  it('re-detects on the frame after a hand is lost', async () => {
    const { models, calls } = fakeModels({ palms: [[4, 8]], presence: (c) => (c === 3 ? 0.1 : 1) });
    const t = new HandTracker(models, { maxHands: 1 });
    const counts: number[] = [];
    for (let i = 0; i < 6; i++) counts.push((await t.process(frame)).length);
    expect(counts).toEqual([1, 1, 1, 0, 1, 1]);
    expect(calls.palm).toBe(2); // frame 0 and frame 4 (frame 3 ran no detector: the hand was still tracked)
  });

  it('with max_hands 2 and one hand, runs the detector every frame or every N-th frame', async () => {
    const a = fakeModels({ palms: [[4, 8]], presence: () => 1 });
    const t1 = new HandTracker(a.models, { maxHands: 2 });
    for (let i = 0; i < 9; i++) await t1.process(frame);
    expect(a.calls.palm).toBe(9);
    const b = fakeModels({ palms: [[4, 8]], presence: () => 1 });
    const t3 = new HandTracker(b.models, { maxHands: 2, redetectEvery: 3 });
    for (let i = 0; i < 9; i++) await t3.process(frame);
    expect(b.calls.palm).toBe(3); // frames 0, 3, 6
  });

  it('finds two separate palms as two hands with stable slots', async () => {
    const { models } = fakeModels({ palms: [[3, 8], [12, 8]], presence: () => 1 });
    const t = new HandTracker(models, { maxHands: 2 });
    const first = await t.process(frame);
    expect(first.map((h) => h.handIndex)).toEqual([0, 1]);
    const xs = first.map((h) => h.kp2d[0]);
    const second = await t.process(frame);
    expect(second.length).toBe(2);
    // each slot stays on its side of the image
    second.forEach((h) => expect(Math.sign(h.kp2d[0] - 160)).toBe(Math.sign(xs[h.handIndex] - 160)));
  });
});
