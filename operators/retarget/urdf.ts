/**
 * URDF reader: a small XML parser (no dependency) plus the URDF semantics needed for kinematics.
 *
 * Supported: <link>, <joint> of type revolute | continuous | prismatic | fixed, <origin xyz rpy>,
 * <axis xyz>, <limit lower upper effort velocity>, <mimic joint multiplier offset>.
 * Rejected with a clear error: floating and planar joints (multi-DoF joints are not supported),
 * unknown joint types, dangling parent/child links, links with two parents, cycles, several roots.
 * Everything else (visual, collision, inertial, transmission, gazebo, ...) is ignored.
 */
import fs from 'node:fs';

// --------------------------------------------------------------------------------------------
// Minimal XML
// --------------------------------------------------------------------------------------------

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** concatenated character data directly inside this element (entities decoded) */
  text: string;
  /** 1-based line of the opening tag */
  line: number;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string, file: string, line: number): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!Number.isFinite(code)) throw new XmlError(`${file}:${line}: bad character reference ${m}`);
      return String.fromCodePoint(code);
    }
    const v = ENTITIES[body];
    if (v === undefined) throw new XmlError(`${file}:${line}: unknown entity ${m}`);
    return v;
  });
}

function isNameChar(c: number): boolean {
  // letters, digits, '_', ':', '-', '.', and any non-ASCII character
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 58 || c === 45 || c === 46 || c > 127
  );
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * Parse an XML document and return its root element. Handles the prolog, comments, CDATA,
 * processing instructions, DOCTYPE (skipped), attributes in single or double quotes, self-closing
 * tags and the five predefined entities plus numeric character references.
 */
export function parseXml(src: string, file = '<xml>'): XmlElement {
  let i = 0;
  let line = 1;
  const n = src.length;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;

  const fail = (msg: string): never => {
    throw new XmlError(`${file}:${line}: ${msg}`);
  };
  const advanceTo = (j: number) => {
    for (let k = i; k < j; k++) if (src.charCodeAt(k) === 10) line++;
    i = j;
  };
  const skipUntil = (token: string, what: string) => {
    const j = src.indexOf(token, i);
    if (j < 0) fail(`unterminated ${what}`);
    advanceTo(j + token.length);
  };

  while (i < n) {
    const lt = src.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const raw = src.slice(i, textEnd);
      if (stack.length) stack[stack.length - 1].text += decodeEntities(raw, file, line);
      else if (raw.trim()) fail('text outside the root element');
      advanceTo(textEnd);
    }
    if (lt < 0) break;
    // at '<'
    if (src.startsWith('<!--', i)) {
      skipUntil('-->', 'comment');
      continue;
    }
    if (src.startsWith('<![CDATA[', i)) {
      const j = src.indexOf(']]>', i);
      if (j < 0) fail('unterminated CDATA section');
      if (stack.length) stack[stack.length - 1].text += src.slice(i + 9, j);
      advanceTo(j + 3);
      continue;
    }
    if (src.startsWith('<?', i)) {
      skipUntil('?>', 'processing instruction');
      continue;
    }
    if (src.startsWith('<!', i)) {
      // DOCTYPE (possibly with an internal subset in [...])
      let depth = 0;
      let j = i + 2;
      for (; j < n; j++) {
        const c = src[j];
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (c === '>' && depth <= 0) break;
      }
      if (j >= n) fail('unterminated <! declaration');
      advanceTo(j + 1);
      continue;
    }
    if (src.startsWith('</', i)) {
      let j = i + 2;
      while (j < n && isNameChar(src.charCodeAt(j))) j++;
      const name = src.slice(i + 2, j);
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      if (src[j] !== '>') fail(`malformed closing tag </${name}`);
      const top = stack.pop();
      if (!top) fail(`closing tag </${name}> without an opening tag`);
      else if (top.name !== name) fail(`closing tag </${name}> does not match <${top.name}> opened on line ${top.line}`);
      advanceTo(j + 1);
      continue;
    }
    // opening tag
    let j = i + 1;
    while (j < n && isNameChar(src.charCodeAt(j))) j++;
    const name = src.slice(i + 1, j);
    if (!name) fail(`malformed tag`);
    const el: XmlElement = { name, attrs: {}, children: [], text: '', line };
    const tagLine = line;
    let selfClosing = false;
    for (;;) {
      while (j < n && isSpace(src.charCodeAt(j))) {
        if (src.charCodeAt(j) === 10) line++;
        j++;
      }
      if (j >= n) {
        line = tagLine;
        fail(`unterminated tag <${name}`);
      }
      const c = src[j];
      if (c === '>') {
        j++;
        break;
      }
      if (c === '/' && src[j + 1] === '>') {
        selfClosing = true;
        j += 2;
        break;
      }
      const a0 = j;
      while (j < n && isNameChar(src.charCodeAt(j))) j++;
      const attr = src.slice(a0, j);
      if (!attr) fail(`unexpected character '${c}' in tag <${name}>`);
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      if (src[j] !== '=') fail(`attribute ${attr} of <${name}> has no value`);
      j++;
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      const q = src[j];
      if (q !== '"' && q !== "'") fail(`attribute ${attr} of <${name}> is not quoted`);
      const end = src.indexOf(q, j + 1);
      if (end < 0) fail(`unterminated value of attribute ${attr} in <${name}>`);
      const raw = src.slice(j + 1, end);
      if (attr in el.attrs) fail(`duplicate attribute ${attr} in <${name}>`);
      el.attrs[attr] = decodeEntities(raw, file, line);
      for (let k = j; k < end; k++) if (src.charCodeAt(k) === 10) line++;
      j = end + 1;
    }
    i = j;
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) fail(`second root element <${name}>`);
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) {
    const top = stack[stack.length - 1];
    throw new XmlError(`${file}:${top.line}: element <${top.name}> is never closed`);
  }
  if (!root) throw new XmlError(`${file}: no root element`);
  return root;
}

// --------------------------------------------------------------------------------------------
// URDF model
// --------------------------------------------------------------------------------------------

export type JointType = 'revolute' | 'continuous' | 'prismatic' | 'fixed';

export interface UrdfOrigin {
  xyz: [number, number, number];
  /** roll, pitch, yaw: R = Rz(yaw) * Ry(pitch) * Rx(roll) (fixed-axis X, then Y, then Z) */
  rpy: [number, number, number];
}

export interface UrdfLimit {
  lower: number;
  upper: number;
  effort: number;
  velocity: number;
}

export interface UrdfMimic {
  /** the source joint */
  joint: string;
  multiplier: number;
  offset: number;
}

export interface UrdfJoint {
  name: string;
  type: JointType;
  parent: string;
  child: string;
  origin: UrdfOrigin;
  /** unit vector in the joint frame; (1,0,0) when absent as the URDF spec says */
  axis: [number, number, number];
  /** present for revolute and prismatic joints (required by the spec); absent for fixed and continuous */
  limit?: UrdfLimit;
  mimic?: UrdfMimic;
}

export interface UrdfLink {
  name: string;
}

export interface UrdfRobot {
  name: string;
  /** file the robot was read from ('<string>' when parsed from text) */
  file: string;
  links: UrdfLink[];
  /** joints in document order */
  joints: UrdfJoint[];
  /** the single link that is no joint's child */
  root: string;
}

export class UrdfError extends Error {
  override name = 'UrdfError';
}

function parseVec3(s: string | undefined, def: [number, number, number], where: string): [number, number, number] {
  if (s === undefined) return [...def];
  const parts = s.trim().split(/\s+/).filter(Boolean);
  if (parts.length !== 3) throw new UrdfError(`${where}: expected 3 numbers, got "${s}"`);
  const v = parts.map(Number) as [number, number, number];
  if (!v.every(Number.isFinite)) throw new UrdfError(`${where}: expected 3 numbers, got "${s}"`);
  return v;
}

function parseNum(s: string | undefined, def: number | undefined, where: string): number {
  if (s === undefined || s.trim() === '') {
    if (def === undefined) throw new UrdfError(`${where} is required`);
    return def;
  }
  const v = Number(s.trim());
  if (!Number.isFinite(v)) throw new UrdfError(`${where}: "${s}" is not a number`);
  return v;
}

function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Parse URDF text. `file` is only used in error messages. */
export function parseUrdf(text: string, file = '<string>'): UrdfRobot {
  const root = parseXml(text, file);
  if (root.name !== 'robot') throw new UrdfError(`${file}: root element is <${root.name}>, expected <robot>`);
  const links: UrdfLink[] = [];
  const linkSet = new Set<string>();
  const joints: UrdfJoint[] = [];
  const jointSet = new Set<string>();

  for (const el of root.children) {
    if (el.name === 'link') {
      const name = el.attrs.name;
      if (!name) throw new UrdfError(`${file}:${el.line}: <link> without a name`);
      if (linkSet.has(name)) throw new UrdfError(`${file}:${el.line}: duplicate link '${name}'`);
      linkSet.add(name);
      links.push({ name });
    }
  }
  for (const el of root.children) {
    if (el.name !== 'joint') continue;
    const name = el.attrs.name;
    if (!name) throw new UrdfError(`${file}:${el.line}: <joint> without a name`);
    const where = `${file}:${el.line}: joint '${name}'`;
    if (jointSet.has(name)) throw new UrdfError(`${where}: duplicate joint name`);
    jointSet.add(name);
    const type = el.attrs.type;
    if (type === 'floating' || type === 'planar') {
      throw new UrdfError(`${where}: joint type '${type}' is not supported (only revolute, continuous, prismatic and fixed joints are)`);
    }
    if (type !== 'revolute' && type !== 'continuous' && type !== 'prismatic' && type !== 'fixed') {
      throw new UrdfError(`${where}: unknown joint type '${type ?? ''}'`);
    }
    const parentEl = child(el, 'parent');
    const childEl = child(el, 'child');
    const parent = parentEl?.attrs.link;
    const childLink = childEl?.attrs.link;
    if (!parent) throw new UrdfError(`${where}: missing <parent link="...">`);
    if (!childLink) throw new UrdfError(`${where}: missing <child link="...">`);
    if (!linkSet.has(parent)) throw new UrdfError(`${where}: parent link '${parent}' is not defined`);
    if (!linkSet.has(childLink)) throw new UrdfError(`${where}: child link '${childLink}' is not defined`);
    if (parent === childLink) throw new UrdfError(`${where}: parent and child are the same link '${parent}'`);
    const originEl = child(el, 'origin');
    const origin: UrdfOrigin = {
      xyz: parseVec3(originEl?.attrs.xyz, [0, 0, 0], `${where}: origin xyz`),
      rpy: parseVec3(originEl?.attrs.rpy, [0, 0, 0], `${where}: origin rpy`),
    };
    let axis: [number, number, number] = [1, 0, 0];
    const axisEl = child(el, 'axis');
    if (type !== 'fixed') {
      axis = parseVec3(axisEl?.attrs.xyz, [1, 0, 0], `${where}: axis xyz`);
      const norm = Math.hypot(axis[0], axis[1], axis[2]);
      if (!(norm > 1e-12)) throw new UrdfError(`${where}: axis has zero length`);
      axis = [axis[0] / norm, axis[1] / norm, axis[2] / norm];
    }
    const j: UrdfJoint = { name, type, parent, child: childLink, origin, axis };
    const limitEl = child(el, 'limit');
    if (type === 'revolute' || type === 'prismatic') {
      if (!limitEl) throw new UrdfError(`${where}: a ${type} joint needs a <limit> element`);
      const lower = parseNum(limitEl.attrs.lower, 0, `${where}: limit lower`);
      const upper = parseNum(limitEl.attrs.upper, 0, `${where}: limit upper`);
      if (lower > upper) throw new UrdfError(`${where}: limit lower (${lower}) is above upper (${upper})`);
      j.limit = {
        lower,
        upper,
        effort: parseNum(limitEl.attrs.effort, 0, `${where}: limit effort`),
        velocity: parseNum(limitEl.attrs.velocity, 0, `${where}: limit velocity`),
      };
    }
    const mimicEl = child(el, 'mimic');
    if (mimicEl) {
      const src = mimicEl.attrs.joint;
      if (!src) throw new UrdfError(`${where}: <mimic> without a joint attribute`);
      if (type === 'fixed') throw new UrdfError(`${where}: a fixed joint cannot mimic '${src}'`);
      j.mimic = {
        joint: src,
        multiplier: parseNum(mimicEl.attrs.multiplier, 1, `${where}: mimic multiplier`),
        offset: parseNum(mimicEl.attrs.offset, 0, `${where}: mimic offset`),
      };
    }
    joints.push(j);
  }

  // Tree checks: each link at most one parent, exactly one root, no cycles, mimic sources exist.
  const parentOf = new Map<string, UrdfJoint>();
  for (const j of joints) {
    const prev = parentOf.get(j.child);
    if (prev) throw new UrdfError(`${file}: joint '${j.name}': link '${j.child}' already has parent joint '${prev.name}'`);
    parentOf.set(j.child, j);
  }
  const roots = links.filter((l) => !parentOf.has(l.name));
  if (links.length === 0) throw new UrdfError(`${file}: the robot has no links`);
  if (roots.length !== 1) {
    throw new UrdfError(
      roots.length === 0
        ? `${file}: the kinematic graph has a cycle (no root link)`
        : `${file}: the robot has ${roots.length} root links (${roots.map((r) => r.name).join(', ')}); URDF needs a single tree`,
    );
  }
  // every link must reach the root (detects cycles detached from the root)
  for (const l of links) {
    let cur = l.name;
    let steps = 0;
    while (parentOf.has(cur)) {
      cur = parentOf.get(cur)!.parent;
      if (++steps > links.length) throw new UrdfError(`${file}: the kinematic graph has a cycle through link '${l.name}'`);
    }
  }
  const byName = new Map(joints.map((j) => [j.name, j]));
  for (const j of joints) {
    if (!j.mimic) continue;
    const src = byName.get(j.mimic.joint);
    if (!src) throw new UrdfError(`${file}: joint '${j.name}': mimic source joint '${j.mimic.joint}' is not defined`);
    if (src.type === 'fixed') throw new UrdfError(`${file}: joint '${j.name}': mimic source joint '${src.name}' is fixed`);
    // mimic cycles
    let cur: UrdfJoint | undefined = j;
    let steps = 0;
    while (cur?.mimic) {
      cur = byName.get(cur.mimic.joint);
      if (++steps > joints.length) throw new UrdfError(`${file}: joint '${j.name}': cyclic mimic chain`);
    }
  }
  return { name: root.attrs.name ?? '', file, links, joints, root: roots[0].name };
}

/** Read and parse a URDF file. */
export function loadUrdf(path: string): UrdfRobot {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new UrdfError(`cannot read URDF ${path}: ${(e as Error).message}`);
  }
  return parseUrdf(text, path);
}

/** Names of the joints dex-retargeting adds for a free-floating root (3 prismatic, then 3 revolute). */
export const DUMMY_JOINT_NAMES = [
  'dummy_x_translation_joint',
  'dummy_y_translation_joint',
  'dummy_z_translation_joint',
  'dummy_x_rotation_joint',
  'dummy_y_rotation_joint',
  'dummy_z_rotation_joint',
] as const;

/**
 * A copy of `robot` with a 6-DoF "dummy free joint" in front of its root, as dex-retargeting's
 * add_dummy_free_joint does: prismatic x, y, z (limits +-5 m) then revolute about x, y, z
 * (limits +-2 pi), all with identity origins, through links dummy_{x,y,z}_{translation,rotation}_link.
 * The new root is dummy_x_translation_link.
 */
export function addDummyFreeJoint(robot: UrdfRobot): UrdfRobot {
  const linkNames = ['x', 'y', 'z'].map((a) => `dummy_${a}_translation_link`).concat(['x', 'y', 'z'].map((a) => `dummy_${a}_rotation_link`));
  for (const n of [...linkNames, ...DUMMY_JOINT_NAMES]) {
    if (robot.links.some((l) => l.name === n) || robot.joints.some((j) => j.name === n)) {
      throw new UrdfError(`${robot.file}: cannot add the dummy free joint: '${n}' already exists`);
    }
  }
  const joints: UrdfJoint[] = [];
  for (let i = 0; i < 6; i++) {
    const axis: [number, number, number] = [0, 0, 0];
    axis[i % 3] = 1;
    const rot = i >= 3;
    joints.push({
      name: DUMMY_JOINT_NAMES[i],
      type: rot ? 'revolute' : 'prismatic',
      parent: linkNames[i],
      child: i < 5 ? linkNames[i + 1] : robot.root,
      origin: { xyz: [0, 0, 0], rpy: [0, 0, 0] },
      axis,
      limit: rot ? { lower: -2 * Math.PI, upper: 2 * Math.PI, effort: 10, velocity: 3.14 } : { lower: -5, upper: 5, effort: 10, velocity: 3.14 },
    });
  }
  return {
    name: robot.name,
    file: robot.file,
    links: [...linkNames.map((name) => ({ name })), ...robot.links],
    joints: [...joints, ...robot.joints],
    root: linkNames[0],
  };
}
