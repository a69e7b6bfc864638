import { describe, expect, it } from 'vitest';
import { clipId, handleShortScenes, scenesToClips, splitScene } from '../operators/clips/split.js';

describe('clip splitting', () => {
  it('keeps short scenes whole and splits long ones into equal overlapping clips', () => {
    expect(splitScene(0, 100, 250, 25)).toEqual([[0, 100]]);
    const c = splitScene(0, 1000, 250, 25);
    expect(c[0][0]).toBe(0);
    expect(c[c.length - 1][1]).toBe(1000);
    for (const [a, b] of c) expect(b - a).toBeLessThanOrEqual(250);
    for (let i = 1; i < c.length; i++) expect(c[i - 1][1] - c[i][0]).toBe(25);
    const lens = c.map(([a, b]) => b - a);
    expect(Math.max(...lens) - Math.min(...lens)).toBeLessThanOrEqual(1);
    // no overlap: clips tile the scene
    const t = splitScene(10, 1010, 100, 0);
    expect(t).toHaveLength(10);
    for (let i = 1; i < t.length; i++) expect(t[i][0]).toBe(t[i - 1][1]);
  });

  it('covers every frame for many lengths', () => {
    for (let n = 1; n < 700; n += 7) {
      const c = splitScene(5, 5 + n, 60, 9);
      expect(c[0][0]).toBe(5);
      expect(c[c.length - 1][1]).toBe(5 + n);
      for (const [a, b] of c) expect(b - a).toBeLessThanOrEqual(60);
      for (let i = 1; i < c.length; i++) expect(c[i][0]).toBeLessThan(c[i - 1][1] + 1);
    }
  });

  it('merges, drops or keeps short scenes', () => {
    const s = [
      { scene_index: 0, start_frame: 0, end_frame: 5 },
      { scene_index: 1, start_frame: 5, end_frame: 100 },
      { scene_index: 2, start_frame: 100, end_frame: 104 },
      { scene_index: 3, start_frame: 104, end_frame: 200 },
    ];
    expect(handleShortScenes(s, 10, 'merge')).toEqual([
      { scene_index: 1, start_frame: 0, end_frame: 104 },
      { scene_index: 3, start_frame: 104, end_frame: 200 },
    ]);
    expect(handleShortScenes(s, 10, 'drop').map((x) => x.scene_index)).toEqual([1, 3]);
    expect(handleShortScenes(s, 10, 'keep')).toHaveLength(4);
    expect(handleShortScenes([{ scene_index: 0, start_frame: 0, end_frame: 3 }], 10, 'merge')).toHaveLength(1);
  });

  it('clip ids are deterministic from video id and start frame', () => {
    const a = scenesToClips('abc', 25, [{ scene_index: 0, start_frame: 0, end_frame: 600 }], { max_clip_seconds: 10, overlap_seconds: 1, min_clip_seconds: 0.5, short_scenes: 'merge' });
    const b = scenesToClips('abc', 25, [{ scene_index: 0, start_frame: 0, end_frame: 600 }], { max_clip_seconds: 10, overlap_seconds: 1, min_clip_seconds: 0.5, short_scenes: 'merge' });
    expect(a).toEqual(b);
    expect(a[1].clip_id).toBe(clipId('abc', a[1].start_frame));
    expect(clipId('abc', 0)).not.toBe(clipId('abd', 0));
    expect(a[1].start_s).toBeCloseTo(a[1].start_frame / 25);
  });
});
