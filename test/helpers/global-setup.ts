/** Generate the test fixtures once (ffmpeg lavfi), before any test file runs. */
import fs from 'node:fs';
import path from 'node:path';
import { makeBadFixtures, makeCutVideo, makeGoodFixtures } from '../../src/fixtures.js';
import { GEN, ROOT } from './fixtures.js';
import { writeTinyModels } from '../../scripts/tiny-models.js';

export default function setup(): void {
  // tiny ONNX stand-ins with the real exports' input/output names (recipes/masks-tiny.yaml uses them)
  const tiny = path.join(ROOT, 'fixtures', 'generated', 'tiny-models');
  if (!fs.existsSync(path.join(tiny, '.complete-v1'))) {
    writeTinyModels(tiny);
    fs.writeFileSync(path.join(tiny, '.complete-v1'), '');
  }
  const stamp = path.join(GEN, '.complete-v1');
  if (fs.existsSync(stamp)) return;
  fs.rmSync(GEN, { recursive: true, force: true });
  makeGoodFixtures(path.join(GEN, 'cuts'));
  makeBadFixtures(path.join(GEN, 'bad'));
  // many small videos with distinct content, for resume / kill tests
  for (let i = 0; i < 16; i++) {
    makeCutVideo(path.join(GEN, 'many', `v${String(i).padStart(2, '0')}.mp4`), [
      { src: 'testsrc2', frames: 30 + i },
      { src: i % 2 ? 'smptehdbars' : 'rgbtestsrc', frames: 25 + (i % 5) },
    ], { size: '160x120' });
  }
  // hostile file names, each with its own content
  const names = ['with space.mp4', `quote'"s.mp4`, 'ünïcödé 映像.MP4', '$(touch PWNED).mp4', '-leading-dash.mov', 'semi;colon&amp.mkv'];
  names.forEach((n, i) => {
    makeCutVideo(path.join(GEN, 'hostile', n), [{ src: 'testsrc2', frames: 20 + i }], { size: '160x120' });
  });
  fs.writeFileSync(stamp, new Date().toISOString());
}
