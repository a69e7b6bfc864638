import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addDummyFreeJoint, DUMMY_JOINT_NAMES, loadUrdf, parseUrdf, parseXml, UrdfError, XmlError } from '../../operators/retarget/urdf.js';
import { HANDS_DIR } from './helpers.js';

describe('parseXml', () => {
  it('parses prolog, comments, CDATA, entities, both quote styles and self-closing tags', () => {
    const doc = parseXml(
      `<?xml version="1.0"?>\n<!DOCTYPE r [ <!ELEMENT r ANY> ]>\n<!-- a <comment> -->\n<r a="1 &amp; 2" b='x"y'>\n  <c/>\n  <d e = "&lt;&#65;&#x42;&gt;">t&apos;<![CDATA[<raw>]]></d>\n</r>\n`,
      'mem.xml',
    );
    expect(doc.name).toBe('r');
    expect(doc.attrs).toEqual({ a: '1 & 2', b: 'x"y' });
    expect(doc.children.map((c) => c.name)).toEqual(['c', 'd']);
    expect(doc.children[1].attrs.e).toBe('<AB>');
    expect(doc.children[1].text).toBe("t'<raw>");
    expect(doc.children[1].line).toBe(6);
  });

  it('reports mismatched and unclosed tags with file and line', () => {
    expect(() => parseXml('<a>\n<b>\n</a>', 'f.xml')).toThrowError(/f\.xml:3: closing tag <\/a> does not match <b> opened on line 2/);
    expect(() => parseXml('<a>\n<b/>', 'g.xml')).toThrowError(/g\.xml:1: element <a> is never closed/);
    expect(() => parseXml('<a x=1/>', 'h.xml')).toThrowError(XmlError);
    expect(() => parseXml('<a/><b/>', 'i.xml')).toThrowError(/second root element/);
  });
});

const SHIPPED: Array<{ file: string; links: number; joints: number; movable: number; prismatic: number; mimic: number; root: string; mimicExample?: [string, string, number, number] }> = [
  { file: 'ability_hand/ability_hand_left.urdf', links: 18, joints: 17, movable: 10, prismatic: 0, mimic: 4, root: 'base_link', mimicExample: ['index_q2', 'index_q1', 1.05851325, 0.72349796] },
  { file: 'ability_hand/ability_hand_right.urdf', links: 18, joints: 17, movable: 10, prismatic: 0, mimic: 4, root: 'base_link', mimicExample: ['pinky_q2', 'pinky_q1', 1.05851325, 0.72349796] },
  { file: 'allegro_hand/allegro_hand_left.urdf', links: 23, joints: 22, movable: 16, prismatic: 0, mimic: 0, root: 'base_link' },
  { file: 'allegro_hand/allegro_hand_right.urdf', links: 23, joints: 22, movable: 16, prismatic: 0, mimic: 0, root: 'base_link' },
  { file: 'inspire_hand/inspire_hand_left.urdf', links: 19, joints: 18, movable: 12, prismatic: 0, mimic: 6, root: 'base', mimicExample: ['index_intermediate_joint', 'index_proximal_joint', 1.06399, -0.04545] },
  { file: 'inspire_hand/inspire_hand_right.urdf', links: 19, joints: 18, movable: 12, prismatic: 0, mimic: 6, root: 'base', mimicExample: ['thumb_distal_joint', 'thumb_proximal_pitch_joint', 0.667, 0] },
  { file: 'leap_hand/leap_hand_left.urdf', links: 22, joints: 21, movable: 16, prismatic: 0, mimic: 0, root: 'base' },
  { file: 'leap_hand/leap_hand_right.urdf', links: 22, joints: 21, movable: 16, prismatic: 0, mimic: 0, root: 'base' },
  { file: 'panda_gripper/panda_gripper_glb.urdf', links: 4, joints: 3, movable: 2, prismatic: 2, mimic: 1, root: 'panda_hand', mimicExample: ['panda_finger_joint2', 'panda_finger_joint1', 1, 0] },
  { file: 'schunk_hand/schunk_svh_hand_left.urdf', links: 29, joints: 28, movable: 20, prismatic: 0, mimic: 11, root: 'base_link', mimicExample: ['left_hand_j5', 'left_hand_Thumb_Opposition', 1, 0] },
  { file: 'schunk_hand/schunk_svh_hand_right.urdf', links: 29, joints: 28, movable: 20, prismatic: 0, mimic: 11, root: 'base_link', mimicExample: ['right_hand_j12', 'right_hand_Ring_Finger', 1.3588, 0] },
  { file: 'shadow_hand/shadow_hand_left.urdf', links: 33, joints: 32, movable: 24, prismatic: 0, mimic: 0, root: 'world' },
  { file: 'shadow_hand/shadow_hand_right.urdf', links: 33, joints: 32, movable: 24, prismatic: 0, mimic: 0, root: 'world' },
];

describe('parse every shipped URDF', () => {
  for (const s of SHIPPED) {
    it(s.file, () => {
      const r = loadUrdf(path.join(HANDS_DIR, s.file));
      expect(r.links.length).toBe(s.links);
      expect(r.joints.length).toBe(s.joints);
      expect(r.joints.filter((j) => j.type !== 'fixed').length).toBe(s.movable);
      expect(r.joints.filter((j) => j.type === 'prismatic').length).toBe(s.prismatic);
      expect(r.joints.filter((j) => j.mimic).length).toBe(s.mimic);
      expect(r.root).toBe(s.root);
      for (const j of r.joints) {
        if (j.type === 'revolute' || j.type === 'prismatic') expect(j.limit!.lower).toBeLessThanOrEqual(j.limit!.upper);
        if (j.type !== 'fixed') expect(Math.hypot(...j.axis)).toBeCloseTo(1, 12);
      }
      if (s.mimicExample) {
        const [name, src, mult, off] = s.mimicExample;
        const j = r.joints.find((x) => x.name === name)!;
        expect(j.mimic).toEqual({ joint: src, multiplier: mult, offset: off });
      }
    });
  }

  it('reads origins, axes and limits of a known joint (Allegro right joint_12.0)', () => {
    const r = loadUrdf(path.join(HANDS_DIR, 'allegro_hand/allegro_hand_right.urdf'));
    const j = r.joints.find((x) => x.name === 'joint_12.0')!;
    expect(j.type).toBe('revolute');
    expect(j.parent).toBe('base_link');
    expect(j.child).toBe('link_12.0');
    expect(j.axis).toEqual([-1, 0, 0]);
    expect(j.origin.xyz).toEqual([-0.0182, 0.019333, -0.045987]);
    expect(j.origin.rpy).toEqual([0, -1.65806278845, -1.5707963259]);
    expect(j.limit).toEqual({ lower: 0.263, upper: 1.396, effort: 10, velocity: 3.14 });
  });
});

const base = (joints: string, links = '<link name="a"/><link name="b"/>') => `<robot name="t">${links}${joints}</robot>`;

describe('URDF errors name the file and the joint', () => {
  it('rejects floating and planar joints', () => {
    for (const type of ['floating', 'planar']) {
      expect(() => parseUrdf(base(`<joint name="free" type="${type}"><parent link="a"/><child link="b"/></joint>`), 'bot.urdf')).toThrowError(
        new RegExp(`bot\\.urdf:1: joint 'free': joint type '${type}' is not supported`),
      );
    }
  });

  it('rejects unknown types, missing links, missing limits, bad numbers, bad mimic sources, cycles and forests', () => {
    expect(() => parseUrdf(base(`<joint name="j" type="ball"><parent link="a"/><child link="b"/></joint>`), 'x.urdf')).toThrowError(/x\.urdf:1: joint 'j': unknown joint type 'ball'/);
    expect(() => parseUrdf(base(`<joint name="j" type="fixed"><parent link="a"/><child link="zz"/></joint>`), 'x.urdf')).toThrowError(/joint 'j': child link 'zz' is not defined/);
    expect(() => parseUrdf(base(`<joint name="j" type="revolute"><parent link="a"/><child link="b"/></joint>`), 'x.urdf')).toThrowError(/joint 'j': a revolute joint needs a <limit> element/);
    expect(() =>
      parseUrdf(base(`<joint name="j" type="fixed"><parent link="a"/><child link="b"/><origin xyz="0 0 nope"/></joint>`), 'x.urdf'),
    ).toThrowError(/joint 'j': origin xyz: expected 3 numbers/);
    expect(() =>
      parseUrdf(
        base(`<joint name="j" type="continuous"><parent link="a"/><child link="b"/><mimic joint="ghost"/></joint>`),
        'x.urdf',
      ),
    ).toThrowError(/x\.urdf: joint 'j': mimic source joint 'ghost' is not defined/);
    expect(() =>
      parseUrdf(
        base(
          `<joint name="j1" type="fixed"><parent link="a"/><child link="b"/></joint><joint name="j2" type="fixed"><parent link="b"/><child link="c"/></joint><joint name="j3" type="fixed"><parent link="c"/><child link="b"/></joint>`,
          '<link name="a"/><link name="b"/><link name="c"/>',
        ),
        'cyc.urdf',
      ),
    ).toThrowError(/cyc\.urdf: joint 'j3': link 'b' already has parent joint 'j1'/);
    expect(() => parseUrdf(base(''), 'forest.urdf')).toThrowError(/forest\.urdf: the robot has 2 root links/);
    expect(() => parseUrdf('<robot name="t"><link name="a"/><joint name="j" type="fixed"><parent link="a"/><child link="a"/></joint></robot>', 's.urdf')).toThrowError(
      /parent and child are the same link/,
    );
  });

  it('treats continuous joints as unlimited and defaults a missing axis to x', () => {
    const r = parseUrdf(base(`<joint name="j" type="continuous"><parent link="a"/><child link="b"/></joint>`));
    expect(r.joints[0].limit).toBeUndefined();
    expect(r.joints[0].axis).toEqual([1, 0, 0]);
    expect(() => loadUrdf('/nonexistent/robot.urdf')).toThrowError(UrdfError);
  });

  it('adds the dex-retargeting dummy free joint in front of the root', () => {
    const r = addDummyFreeJoint(loadUrdf(path.join(HANDS_DIR, 'panda_gripper/panda_gripper_glb.urdf')));
    expect(r.root).toBe('dummy_x_translation_link');
    expect(r.joints.slice(0, 6).map((j) => j.name)).toEqual([...DUMMY_JOINT_NAMES]);
    expect(r.joints.slice(0, 6).map((j) => j.type)).toEqual(['prismatic', 'prismatic', 'prismatic', 'revolute', 'revolute', 'revolute']);
    expect(r.joints[5].child).toBe('panda_hand');
    expect(r.joints[2].limit!.upper).toBe(5);
    expect(r.joints[4].limit!.lower).toBeCloseTo(-2 * Math.PI, 12);
    expect(r.joints[4].axis).toEqual([0, 1, 0]);
  });
});
