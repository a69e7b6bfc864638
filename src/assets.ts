/**
 * Model and data asset store: a registry of pinned public files (models, sample videos, robot
 * descriptions) and a verified local cache.
 *
 * Every file is pinned by a raw.githubusercontent.com URL at a fixed commit and a sha256. Where a
 * file comes from, in order:
 *   1. the cache (EGOPIPE_CACHE, else $XDG_CACHE_HOME/egopipe, else ~/.cache/egopipe), laid out like
 *      ../shared/data (models/..., videos/..., robots/...). A `<file>.sha256` marker records the
 *      verified hash with the file's size and mtime, so big files are not re-hashed on every use.
 *   2. a mirror folder with the same layout (option `mirror`, else EGOPIPE_MIRROR): offline machines
 *      and CI point it at ../shared/data.
 *   3. a download of the pinned URL with global fetch.
 * Copies and downloads go to a temp file next to the destination, are sha256-verified and only then
 * renamed into place (atomic on one filesystem), so the cache never holds a partial or wrong file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type Sha256Source = 'published' | 'computed from the mirror copy';

export interface AssetFile {
  /** path relative to the asset root (the layout of ../shared/data), '/'-separated */
  path: string;
  /** raw file of a pinned commit */
  url: string;
  sha256: string;
  /** bytes */
  size: number;
  /** 'published': from the project's pinned table; otherwise computed from our mirror copy */
  sha256_source: Sha256Source;
}

export interface AssetSpec {
  name: string;
  kind: 'model' | 'video' | 'robot';
  description: string;
  /** the file (single-file assets) or folder (robot trees), relative to the asset root */
  path: string;
  /** 'file': one entry in files; 'folder': every file of the folder, listed explicitly */
  type: 'file' | 'folder';
  files: readonly AssetFile[];
  license?: string;
  /** where it comes from, for people */
  source: { repo: string; commit: string; path: string };
  note?: string;
}

function raw(repo: string, commit: string, p: string): string {
  return `https://raw.githubusercontent.com/${repo}/${commit}/${p}`;
}

function single(
  name: string,
  kind: AssetSpec['kind'],
  description: string,
  relPath: string,
  repo: string,
  commit: string,
  upstreamPath: string,
  sha256: string,
  size: number,
  license?: string,
): AssetSpec {
  return {
    name,
    kind,
    description,
    path: relPath,
    type: 'file',
    files: [{ path: relPath, url: raw(repo, commit, upstreamPath), sha256, size, sha256_source: 'published' }],
    license,
    source: { repo, commit, path: upstreamPath },
  };
}

const DEX_URDF = { repo: 'dexsuite/dex-urdf', commit: '93505db3c0b29b4a80bd359048de7d39c9ea3218', dir: 'robots/hands' };
const DEX_RETARGETING = {
  repo: 'dexsuite/dex-retargeting',
  commit: '3f56141bc8bd2760d5e452e382937269554ebb21',
  dir: 'src/dex_retargeting/configs',
};

// Files of the robot folders as they are in the mirror (../shared/data/robots), with the sha256
// computed from those copies (upstream publishes none). [path inside the folder, sha256, size]
const ROBOT_HANDS_FILES: ReadonlyArray<readonly [string, string, number]> = [
  ['LICENSE', 'd14b27f75e984217cad872ec9facbd0b459375cc8e412d6fe77df339bc1b8dda', 1091],
  ['ability_hand/ability_hand_left.urdf', 'bd54257c678bb95468a473518b63aabf50be90e5b1cbc791d22cb8cd043424c2', 18094],
  ['ability_hand/ability_hand_right.urdf', '395bcf4963b5e05a0f6f5333c1a3537db4e24cefc4348e290424fb59120e3fb3', 18377],
  ['allegro_hand/allegro_hand_left.urdf', '36bfe87b4731c96bc2dc178136d1eb54d780bf32f876a9412f1d6e0d717b903f', 16881],
  ['allegro_hand/allegro_hand_right.urdf', 'c0b80e9f740514eb98407a8b6aaa887a964392c8b8003912f7bf9ab88d8c55c3', 16826],
  ['inspire_hand/inspire_hand_left.urdf', '29ed0ba326083938b3b7a04d72256f974a376d2e29805c3f710cd9208c16db83', 15216],
  ['inspire_hand/inspire_hand_right.urdf', 'bfc377800d1913a36d4bf4693ffce0003f8a2555bf2a803b9a02c1f24b055769', 14717],
  ['leap_hand/leap_hand_left.urdf', '08dc0cb86492b1f3cf4f43a5a66fbe08370fe28ee82fa1b6f62752ba6e02e538', 24964],
  ['leap_hand/leap_hand_right.urdf', '7170056b44553779af566a33a3f80fc44c431f739d85fff809e9a16ed4887f76', 24927],
  ['panda_gripper/panda_gripper_glb.urdf', '45ff745fe9476959f8d86bc5bf6e482a40302e4a007dff0f41d9f333b16f9ad8', 3743],
  ['schunk_hand/schunk_svh_hand_left.urdf', '21a319e5a15986c568c6015896a2408886a04490f9f91c72bf14f57c036e24a2', 17698],
  ['schunk_hand/schunk_svh_hand_right.urdf', '149795d35925f9ddb35a4270407a5dc5f839f3d29f9d929c80484981637c046a', 17752],
  ['shadow_hand/shadow_hand_left.urdf', '24988ac25c1d9136e0c18bed0d3d9d5d2745d7aa83df2b4a9ec0abf36be36d48', 30723],
  ['shadow_hand/shadow_hand_right.urdf', '29a50063cced2fba81dfe3d208ba54499fc12635c9189d0822f7caa2771c36de', 30600],
];

const RETARGETING_FILES: ReadonlyArray<readonly [string, string, number]> = [
  ['LICENSE', '9fe9a2d1a06b91db137b5f50ee4e3914b0b8c1df523b81bdd0a9d930e1ce6106', 1075],
  ['offline/ability_hand_left.yml', 'eca16c27eea3cdad4c6b8290a1aa94aee2a9391a6d9267a4ae18a73889c6d40d', 594],
  ['offline/ability_hand_right.yml', '93d1146b7f0124d5b9543c4afca31887f602fb21acbb999b3f3a22ab5fcb7c9a', 595],
  ['offline/allegro_hand_left.yml', 'a65eeaef62ba2048a6b0ffd27aef200748b34fbbbdca40c3c4e37311d80ab0c0', 515],
  ['offline/allegro_hand_right.yml', 'e238262be9257acc199471d7b020f3f952e5c85433c937ebf522586997502fd3', 516],
  ['offline/inspire_hand_left.yml', 'cdc3cd3d02be0ff36b01644fbfee1492536c95e197616a35a73f2eba83198bc8', 700],
  ['offline/inspire_hand_right.yml', 'c4ffc9d05a2539e7015aa64d2feb36122a4bfc869ad3381dc96711037a072bf0', 701],
  ['offline/leap_hand_left.yml', '8bdd7bfd246c9de654c47b47dfe77f110ecd7221f8a42de86e01d34d672d1c31', 480],
  ['offline/leap_hand_right.yml', '0081afe35268de6455e8338dc134be1757dc0fabf78257c551b358f736b9c860', 481],
  ['offline/panda_gripper.yml', 'c4881365a74e8b3c6107def8852ea0c7c7a8797bfc41951348673e2762fc3f0a', 508],
  ['offline/schunk_svh_hand_left.yml', '3479abc735e10902cb7271f6b760a6a66c56db360818773af2528edac786fd29', 871],
  ['offline/schunk_svh_hand_right.yml', 'fcd8682e13f9ba6833ac8dd4712666206e35127eef8e2dd9aa8b7a0116195d75', 891],
  ['offline/shadow_hand_left.yml', 'd6cd1d086e472c605cf50d3516be7a48582171e598274dd8d77e7d61a4754a12', 510],
  ['offline/shadow_hand_right.yml', '23ed8989463452e8b6ed831be6d43739777d045e0269af181df1d57b408e531c', 511],
  ['teleop/ability_hand_left.yml', '6aed46c6d40e9972af8cf0f9312d552175b80b73da1f452993cf923b094d94c1', 828],
  ['teleop/ability_hand_left_dexpilot.yml', 'ac4144877d119dd816dd8d842442570f6dce6f6e95fe01ce79d3622efebc71b3', 503],
  ['teleop/ability_hand_right.yml', '86f5ddcedc77d648cb3972ff963e1099d46fdee3a22850184b715872847e7703', 829],
  ['teleop/ability_hand_right_dexpilot.yml', '52b6047e3097701c9112799bf4840da167cf82c5684adb5b96d1c5c07cd5153d', 504],
  ['teleop/allegro_hand_left.yml', 'c188adad5598daf7124212b611cc237e7eb517a5cd5ce8dde1fcbe6a6ce234eb', 694],
  ['teleop/allegro_hand_left_dexpilot.yml', '5d42763aa662c0b825a7fb0181a9d27a0a0449c365e131651623b63fdd2bd76e', 402],
  ['teleop/allegro_hand_right.yml', '23cdb5385137dec4174f1f9211ffe4884a9222f5d3a98fcf7218c715555a5284', 695],
  ['teleop/allegro_hand_right_dexpilot.yml', 'cfa97a2e90271ac0e575076c480b9f175aaafabb2779e21d2ca1cb41703891c3', 403],
  ['teleop/inspire_hand_left.yml', '053704fd61a2bacf879f76695355d56c4c6454a75b778dd55654f99cb02a8b2a', 909],
  ['teleop/inspire_hand_left_dexpilot.yml', '6bbcfafe234d4f99ee293e253b26eb07d996a5bdfdd3301a4fff17f78de99529', 605],
  ['teleop/inspire_hand_right.yml', '8adebf4e01d0c9975f4effc7501c95a5795bd551c8cd5effe7ba3fbfd788695a', 910],
  ['teleop/inspire_hand_right_dexpilot.yml', '94c48439ee143673cd69e8bc0c8b072c847d2a94d14fefdcd16c992f8b7c8a1a', 606],
  ['teleop/leap_hand_left.yml', 'b559e9bc2c5f8cb2f23441763166653ef35938cceb9f4345f09d6f0e336ed3a6', 690],
  ['teleop/leap_hand_left_dexpilot.yml', '21b0ea0f6754793033ed9c5ac13658b6d526f921d3e31d7b332e4aae6bb17e9a', 401],
  ['teleop/leap_hand_right.yml', 'c7129af6d85b9978c89b6f40aa227220b6d7f5c514bc66ca5836eea24d611a60', 691],
  ['teleop/leap_hand_right_dexpilot.yml', 'ed50438f3d41b17b0b2d120bbcbe232a100fec04402fffea5b8eeabe1f9b5382', 402],
  ['teleop/panda_gripper.yml', '4cc7a888d44001d1f3b365698f07bc38e5af082f1cb90e5058cc591dde63398a', 663],
  ['teleop/panda_gripper_dexpilot.yml', '75fc3aa005bf6a4a518f8f9689d8270793e321aada9f4ad2490d6b46094b58cb', 432],
  ['teleop/schunk_svh_hand_left.yml', '016af05d698fd878811087d48ea6794fdd8e5346e8d74432884f633113995b8d', 1102],
  ['teleop/schunk_svh_hand_left_dexpilot.yml', '0ee5d85b62d023927c6e3863567ec9f363091218d1f149ae6ec60a68e1531ed5', 736],
  ['teleop/schunk_svh_hand_right.yml', '45bc1d0c9e9af1c981d1abdd2909ad5df3bf0bb1142c98b65b890e2640415e87', 1117],
  ['teleop/schunk_svh_hand_right_dexpilot.yml', '768a69c99451fa1aa214a07702b439ec4b7d2d0b7b5a030649ae6f9868c48d81', 747],
  ['teleop/shadow_hand_left.yml', '91aafb23a2b7e07a9804864dfbe954cb59e4a4817abec50d625d2a4740ee2b6d', 816],
  ['teleop/shadow_hand_left_dexpilot.yml', '831947ad3fe220f8c9d2e8b302cf892fbb103d579ad614f62a239494a4d723be', 381],
  ['teleop/shadow_hand_right.yml', 'e12e9aa5c8f51010793bfa04f3d92ea998b51b8503e5e61330ca8db194f7bf0e', 817],
  ['teleop/shadow_hand_right_dexpilot.yml', '9a57babb73ab3b0511542c36fdf686047e2a9f2767db932629f5b30c9bb2f4d4', 382],
];

function folder(
  name: string,
  description: string,
  relDir: string,
  up: { repo: string; commit: string; dir: string },
  table: ReadonlyArray<readonly [string, string, number]>,
): AssetSpec {
  return {
    name,
    kind: 'robot',
    description,
    path: relDir,
    type: 'folder',
    files: table.map(([p, sha256, size]) => ({
      path: `${relDir}/${p}`,
      // the folder's LICENSE is the repository's root LICENSE upstream
      url: raw(up.repo, up.commit, p === 'LICENSE' ? 'LICENSE' : `${up.dir}/${p}`),
      sha256,
      size,
      sha256_source: 'computed from the mirror copy' as const,
    })),
    license: 'MIT',
    source: { repo: up.repo, commit: up.commit, path: `${up.dir}/` },
    note: 'no published sha256: the hashes were computed from the mirror copy (../shared/data) when the registry was written',
  };
}

const REGISTRY: readonly AssetSpec[] = [
  single(
    'palm_detection',
    'model',
    'MediaPipe palm detector, 128x128 input, ONNX (opset 11)',
    'models/palm_detection_128.onnx',
    'keijiro/BlazePalmBarracuda',
    '3499363a87deea6c468ae700f4fb72a2d427cdd6',
    'Packages/jp.keijiro.mediapipe.blazepalm/ONNX/palm_detection_barracuda.onnx',
    '6fa415badf79694c96441b54c911ddb1b693204923a8dcd67af62e14f23730b4',
    3881259,
    'Apache-2.0',
  ),
  single(
    'hand_landmark',
    'model',
    'MediaPipe hand landmark model, 224x224 crop -> 21 keypoints, ONNX (opset 11)',
    'models/hand_landmark_224.onnx',
    'keijiro/HandLandmarkBarracuda',
    '36308f8b8b0ac4116e9de2b6114bd37d0dd5756e',
    'Packages/jp.keijiro.mediapipe.handlandmark/ONNX/hand_landmark.onnx',
    'caeea4465a5b7bf68081d9ba6ce195dcb6dcbaadbe83c339a4f2860e9db7eec2',
    3852998,
    'Apache-2.0',
  ),
  single(
    'human_hand_video',
    'video',
    "1280x720 30 fps, 621 frames: one right hand gesturing (dex-retargeting's example video)",
    'videos/human_hand_video.mp4',
    DEX_RETARGETING.repo,
    DEX_RETARGETING.commit,
    'example/vector_retargeting/data/human_hand_video.mp4',
    'd306af128862940fc6e3c737a42ec6b00a137fff1c37b10805fe2c143c62ddb8',
    596459,
  ),
  single(
    'testvideo',
    'video',
    "1280x720 29.97 fps, 720 frames with hard cuts (PySceneDetect's test video)",
    'videos/testvideo.mp4',
    'Breakthrough/PySceneDetect',
    'a1f226e2f4ec2f8cabb8aa4ac74d5c9d238dec6b',
    'tests/resources/testvideo.mp4',
    '26775661b477bd739b3ba870aed04737179518abaf2a6e516ace6c94957aaa47',
    2433000,
  ),
  single(
    '02_cups',
    'video',
    '1280x720 29.97 fps, 300 frames: two hands move three red cups (SAM 2 demo gallery)',
    'videos/02_cups.mp4',
    'facebookresearch/sam2',
    '2b90b9f5ceec907a1c18123530e92e794ad901a4',
    'demo/data/gallery/02_cups.mp4',
    '6320759eede8c82c7d43fe1cc569f3a389758ec37b2b1dc9e9b7b4ce4110ab13',
    2543710,
  ),
  single(
    'epic_kitchens_sample',
    'video',
    '1920x544 5 fps, 12 frames: egocentric kitchen (EPIC-KITCHENS), two panels side by side',
    'videos/epic_kitchens_sample.mp4',
    'objectforesight/objectforesight.github.io',
    'e8bc4e2f105ac83f877aac38ef834d7227405a97',
    'videos/epickitchen/epic1.mp4',
    'a19a875c10f38dce9de65a02b5378a6ef3c7709ee2f14cd9252d93d2cf454645',
    209812,
  ),
  folder(
    'robot_hands',
    'kinematic URDFs of Allegro, Shadow, LEAP, Inspire, Ability, Schunk SVH hands and the Panda gripper (dex-urdf)',
    'robots/hands',
    DEX_URDF,
    ROBOT_HANDS_FILES,
  ),
  folder(
    'retargeting_configs',
    "dex-retargeting's reference retargeting configurations (teleop/ and offline/); urdf_path is relative to robots/hands",
    'robots/retargeting',
    DEX_RETARGETING,
    RETARGETING_FILES,
  ),
];

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

export class AssetError extends Error {
  override name = 'AssetError';
}

/** A file whose sha256 is not the pinned one. Nothing was written to the cache. */
export class AssetIntegrityError extends AssetError {
  override name = 'AssetIntegrityError';
  constructor(
    readonly asset: string,
    readonly file: string,
    readonly expected: string,
    readonly got: string,
    readonly origin: 'mirror' | 'download',
    readonly from: string,
    hint: string,
  ) {
    super(
      `asset "${asset}": ${file} failed sha256 verification\n` +
        `  expected sha256 ${expected}\n` +
        `  got      sha256 ${got}\n` +
        `  from ${origin === 'mirror' ? 'mirror copy' : 'download of'} ${from}\n` +
        `  The file was rejected; nothing was written to the cache.\n` +
        `  ${hint}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// registry access
// ---------------------------------------------------------------------------------------------

export function listAssets(): readonly AssetSpec[] {
  return REGISTRY;
}

export function getAsset(name: string): AssetSpec {
  const a = REGISTRY.find((x) => x.name === name);
  if (!a) {
    throw new AssetError(`unknown asset "${name}"; known assets: ${REGISTRY.map((x) => x.name).join(', ')}`);
  }
  return a;
}

/** $EGOPIPE_CACHE, else $XDG_CACHE_HOME/egopipe, else ~/.cache/egopipe. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EGOPIPE_CACHE) return path.resolve(env.EGOPIPE_CACHE);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'egopipe');
  return path.join(os.homedir(), '.cache', 'egopipe');
}

export interface AssetOptions {
  /** folder laid out like ../shared/data; default $EGOPIPE_MIRROR; null = use no mirror even if the env var is set */
  mirror?: string | null;
  /** default: defaultCacheDir() */
  cacheDir?: string;
}

export interface PullOptions extends AssetOptions {
  /** default: global fetch */
  fetchImpl?: typeof fetch;
  /** ignore the cache and fetch again */
  force?: boolean;
  /** called once per file that is copied or downloaded */
  onFile?: (file: AssetFile, source: 'mirror' | 'download') => void;
}

export interface PullResult {
  name: string;
  /** absolute path of the file, or of the folder for folder assets */
  path: string;
  /** sha256 of the file; for folders, sha256 of the sorted "<sha256>  <path>\n" lines of its files */
  sha256: string;
  /** where the bytes came from ('download' if any file of a folder was downloaded, else 'mirror' if any was copied) */
  source: 'cache' | 'mirror' | 'download';
  files: number;
  bytes: number;
}

function mirrorDir(opts: AssetOptions): string | undefined {
  if (opts.mirror === null) return undefined;
  const m = opts.mirror ?? process.env.EGOPIPE_MIRROR;
  return m ? path.resolve(m) : undefined;
}

function local(root: string, rel: string): string {
  return path.join(root, ...rel.split('/'));
}

export function folderDigest(files: readonly AssetFile[]): string {
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.sha256}  ${f.path}\n`)
    .join('');
  return createHash('sha256').update(lines).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// hashing and the verified-cache marker
// ---------------------------------------------------------------------------------------------

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(fs.createReadStream(file), async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) h.update(chunk);
  });
  return h.digest('hex');
}

interface Marker {
  sha256: string;
  size: number;
  mtimeMs: number;
}

const markerPath = (file: string) => `${file}.sha256`;

function writeMarker(file: string, sha256: string): void {
  try {
    const st = fs.statSync(file);
    const m: Marker = { sha256, size: st.size, mtimeMs: Math.round(st.mtimeMs) };
    fs.writeFileSync(markerPath(file), JSON.stringify(m) + '\n');
  } catch {
    /* the marker only saves re-hashing; without it the file is hashed on next use */
  }
}

function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { force: true });
  } catch {
    /* ignore */
  }
}

/**
 * Is the cached copy of `f` present and the pinned version? Trusts the marker when size and mtime
 * still match it; otherwise re-hashes (and refreshes the marker). A cached file with the wrong
 * content is deleted (it is our cache, and a wrong file must never be used).
 */
async function cachedOk(file: string, f: AssetFile): Promise<boolean> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  try {
    const m = JSON.parse(fs.readFileSync(markerPath(file), 'utf8')) as Marker;
    // mtime compared in whole milliseconds: sub-ms precision does not survive every timestamp round trip
    if (m.sha256 === f.sha256 && m.size === st.size && m.mtimeMs === Math.round(st.mtimeMs)) return true;
  } catch {
    /* no or bad marker: hash */
  }
  if (st.size === f.size && (await sha256File(file)) === f.sha256) {
    writeMarker(file, f.sha256);
    return true;
  }
  removeQuietly(file);
  removeQuietly(markerPath(file));
  return false;
}

function tempPath(dest: string): string {
  return `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// fetching one file
// ---------------------------------------------------------------------------------------------

function lfsHint(tmp: string): string {
  try {
    const head = Buffer.alloc(64);
    const fd = fs.openSync(tmp, 'r');
    const n = fs.readSync(fd, head, 0, 64, 0);
    fs.closeSync(fd);
    if (head.subarray(0, n).toString('latin1').startsWith('version https://git-lfs')) {
      return ' (the server returned a Git LFS pointer, not the file)';
    }
  } catch {
    /* ignore */
  }
  return '';
}

async function fromMirror(assetName: string, f: AssetFile, src: string, dest: string): Promise<void> {
  const tmp = tempPath(dest);
  try {
    await fs.promises.copyFile(src, tmp);
    const got = await sha256File(tmp);
    if (got !== f.sha256) {
      throw new AssetIntegrityError(
        assetName,
        f.path,
        f.sha256,
        got,
        'mirror',
        src,
        `Fix: replace the mirror copy with the pinned file (${f.url}), or pull without the mirror ` +
          `(unset EGOPIPE_MIRROR / drop --mirror) to download it.`,
      );
    }
    fs.renameSync(tmp, dest);
  } finally {
    removeQuietly(tmp);
  }
  writeMarker(dest, f.sha256);
}

async function fromUrl(assetName: string, f: AssetFile, fetchImpl: typeof fetch, dest: string): Promise<void> {
  const tmp = tempPath(dest);
  try {
    let res: Response;
    try {
      res = await fetchImpl(f.url, { redirect: 'follow' });
    } catch (e) {
      throw new AssetError(
        `asset "${assetName}": could not download ${f.url}: ${(e as Error).message}\n` +
          `  Offline? Point EGOPIPE_MIRROR (or --mirror) at a folder holding ${f.path}.`,
      );
    }
    if (!res.ok) {
      throw new AssetError(
        `asset "${assetName}": download of ${f.url} failed: HTTP ${res.status} ${res.statusText}\n` +
          `  Point EGOPIPE_MIRROR (or --mirror) at a folder holding ${f.path} to use a local copy.`,
      );
    }
    const h = createHash('sha256');
    const body: Readable = res.body
      ? Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0])
      : Readable.from([new Uint8Array(await res.arrayBuffer())]);
    await pipeline(
      body,
      async function* (src: AsyncIterable<Uint8Array>) {
        for await (const chunk of src) {
          h.update(chunk);
          yield chunk;
        }
      },
      fs.createWriteStream(tmp),
    );
    const got = h.digest('hex');
    if (got !== f.sha256) {
      throw new AssetIntegrityError(
        assetName,
        f.path,
        f.sha256,
        got,
        'download',
        f.url + lfsHint(tmp),
        `Fix: retry (the download may have been cut or altered). If it keeps failing the upstream file changed; ` +
          `get the pinned file by hand, check it with sha256sum, and put it in a mirror folder at ${f.path} (EGOPIPE_MIRROR).`,
      );
    }
    fs.renameSync(tmp, dest);
  } finally {
    removeQuietly(tmp);
  }
  writeMarker(dest, f.sha256);
}

// ---------------------------------------------------------------------------------------------
// public API
// ---------------------------------------------------------------------------------------------

/**
 * Make an asset available in the cache and return where it is. Uses the cached copy when it is
 * verified (unless force), else copies it from the mirror, else downloads it; every new file is
 * sha256-verified before it enters the cache. Throws AssetIntegrityError on a wrong file and
 * AssetError when no source works.
 */
export async function pullAsset(name: string, opts: PullOptions = {}): Promise<PullResult> {
  const spec = getAsset(name);
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  const mirror = mirrorDir(opts);
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  let copied = 0;
  let downloaded = 0;
  let bytes = 0;
  for (const f of spec.files) {
    const dest = local(cacheDir, f.path);
    bytes += f.size;
    if (!opts.force && (await cachedOk(dest, f))) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const src = mirror ? local(mirror, f.path) : undefined;
    if (src && fs.existsSync(src)) {
      await fromMirror(name, f, src, dest);
      copied++;
      opts.onFile?.(f, 'mirror');
      continue;
    }
    if (process.env.EGOPIPE_OFFLINE === '1' && !opts.fetchImpl) {
      throw new AssetError(
        `asset "${name}": ${f.path} is not cached${mirror ? ` nor in the mirror ${mirror}` : ''}, and EGOPIPE_OFFLINE=1 forbids downloading ${f.url}`,
      );
    }
    if (typeof fetchImpl !== 'function') {
      throw new AssetError(
        `asset "${name}": ${f.path} is not cached${mirror ? ` nor in the mirror ${mirror}` : ''} and no fetch is available to download ${f.url}`,
      );
    }
    try {
      await fromUrl(name, f, fetchImpl, dest);
    } catch (e) {
      if (mirror && e instanceof AssetError && !(e instanceof AssetIntegrityError)) {
        e.message += `\n  (the mirror ${mirror} has no ${f.path} either)`;
      }
      throw e;
    }
    downloaded++;
    opts.onFile?.(f, 'download');
  }
  const source = downloaded ? 'download' : copied ? 'mirror' : 'cache';
  return {
    name,
    path: local(cacheDir, spec.path),
    sha256: spec.type === 'file' ? spec.files[0]!.sha256 : folderDigest(spec.files),
    source,
    files: spec.files.length,
    bytes,
  };
}

/** The cached path of an asset when every file of it is present and verified, else null. Never fetches. */
export async function resolveAsset(name: string, opts: Pick<AssetOptions, 'cacheDir'> = {}): Promise<string | null> {
  const spec = getAsset(name);
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  for (const f of spec.files) {
    if (!(await cachedOk(local(cacheDir, f.path), f))) return null;
  }
  return local(cacheDir, spec.path);
}
