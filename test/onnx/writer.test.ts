import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { OnnxGraph, attr, encodeVarint, f32, i64 } from '../../src/onnx/writer.js';

async function session(g: OnnxGraph, opset = 17): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(Buffer.from(g.toBytes({ opset })), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) {
      throw new Error(`index ${i}: ${actual[i]} != ${expected[i]} (tol ${tol})`);
    }
  }
}

describe('protobuf primitives', () => {
  it('encodes varints like protobuf', () => {
    expect(Array.from(encodeVarint(0))).toEqual([0]);
    expect(Array.from(encodeVarint(1))).toEqual([1]);
    expect(Array.from(encodeVarint(127))).toEqual([0x7f]);
    expect(Array.from(encodeVarint(300))).toEqual([0xac, 0x02]);
    // negative int64: ten bytes of two's complement
    expect(Array.from(encodeVarint(-1))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(Array.from(encodeVarint(2n ** 40n))).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    expect(() => encodeVarint(0.5)).toThrow(RangeError);
  });

  it('starts a ModelProto with ir_version 8 and checks tensor sizes', () => {
    const g = new OnnxGraph('id').input('x', 'float32', [1]).node('Identity', ['x'], ['y']).output('y', 'float32', [1]);
    const bytes = g.toBytes();
    expect(bytes[0]).toBe(0x08); // field 1, varint
    expect(bytes[1]).toBe(8);
    const bad = new OnnxGraph().initializer('w', f32([1, 2, 3]), [2, 2]);
    expect(() => bad.toBytes()).toThrow(/hold 4 elements/);
  });
});

describe('OnnxGraph runs on onnxruntime-node', () => {
  it('Add with a symbolic batch dimension and an initializer', async () => {
    const g = new OnnxGraph('add')
      .input('x', 'float32', ['batch', 3])
      .initializer('b', f32([1, 2, 3]), [3])
      .node('Add', ['x', 'b'], ['y'])
      .output('y', 'float32', ['batch', 3]);
    const s = await session(g);
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y']);
    const meta = s.inputMetadata[0];
    expect(meta.isTensor && meta.type).toBe('float32');
    expect(meta.isTensor && meta.shape).toEqual(['batch', 3]);
    for (const batch of [1, 4]) {
      const x = new Float32Array(batch * 3).map((_, i) => i);
      const out = await s.run({ x: new ort.Tensor('float32', x, [batch, 3]) });
      expect(out.y.dims).toEqual([batch, 3]);
      close(out.y.data as Float32Array, Array.from(x, (v, i) => v + [1, 2, 3][i % 3]));
    }
  });

  it('MatMul, Gemm with float attributes, Sigmoid', async () => {
    const W = f32([1, 2, 3, 4, 5, 6]); // [3,2]
    const g = new OnnxGraph('mm')
      .input('x', 'float32', ['n', 3])
      .initializer('W', W, [3, 2])
      .initializer('C', f32([0.5, -0.5]), [2])
      .node('MatMul', ['x', 'W'], ['m'])
      .node('Gemm', ['x', 'W', 'C'], ['gm'], { alpha: attr.float(2), beta: 0.5 })
      .node('Sigmoid', ['m'], ['s'])
      .output('m', 'float32', ['n', 2])
      .output('gm', 'float32', ['n', 2])
      .output('s', 'float32', ['n', 2]);
    const s = await session(g);
    const x = f32([1, 0, -1, 0.5, 0.25, 2]);
    const out = await s.run({ x: new ort.Tensor('float32', x, [2, 3]) });
    const m = [1 * 1 + 0 * 3 - 1 * 5, 1 * 2 + 0 * 4 - 1 * 6, 0.5 * 1 + 0.25 * 3 + 2 * 5, 0.5 * 2 + 0.25 * 4 + 2 * 6];
    close(out.m.data as Float32Array, m);
    close(out.gm.data as Float32Array, m.map((v, i) => 2 * v + 0.5 * [0.5, -0.5][i % 2]));
    close(out.s.data as Float32Array, m.map((v) => 1 / (1 + Math.exp(-v))));
  });

  it('Conv with pads/strides ints attributes', async () => {
    // 1x1x4x4 input, one 3x3 kernel of ones + bias 1, pad 1, stride 2 -> 1x1x2x2
    const g = new OnnxGraph('conv')
      .input('x', 'float32', [1, 1, 4, 4])
      .initializer('k', new Float32Array(9).fill(1), [1, 1, 3, 3])
      .initializer('bias', f32([1]), [1])
      .node('Conv', ['x', 'k', 'bias'], ['y'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] })
      .output('y', 'float32', [1, 1, 2, 2]);
    const s = await session(g);
    const x = new Float32Array(16).map((_, i) => i);
    const out = await s.run({ x: new ort.Tensor('float32', x, [1, 1, 4, 4]) });
    const at = (r: number, c: number) => (r < 0 || c < 0 || r > 3 || c > 3 ? 0 : x[r * 4 + c]);
    const expected: number[] = [];
    for (const oy of [0, 2]) {
      for (const ox of [0, 2]) {
        let sum = 1;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) sum += at(oy + dy, ox + dx);
        expected.push(sum);
      }
    }
    close(out.y.data as Float32Array, expected);
  });

  it('Slice with negative int64 indices, Reshape, Concat, ReduceMean (opset 17 axes attribute)', async () => {
    const g = new OnnxGraph('shapes')
      .input('x', 'float32', ['batch', 2, 4])
      .initializer('starts', i64([1]), [1])
      .initializer('ends', i64([-1]), [1])
      .initializer('axes', i64([-1]), [1])
      .initializer('shape', i64([-1, 4]), [2])
      .node('Slice', ['x', 'starts', 'ends', 'axes'], ['sl']) // x[..., 1:-1] -> [b,2,2]
      .node('Reshape', ['sl', 'shape'], ['rs']) // [b,4]
      .node('ReduceMean', ['x'], ['mean'], { axes: [1, 2], keepdims: 0 }) // [b]
      .node('Unsqueeze', ['mean', 'one'], ['mean2'])
      .initializer('one', i64([1]), [1])
      .node('Concat', ['rs', 'mean2'], ['cat'], { axis: 1 }) // [b,5]
      .output('cat', 'float32', ['batch', 5]);
    const s = await session(g);
    const x = new Float32Array(16).map((_, i) => i * i * 0.1);
    const out = await s.run({ x: new ort.Tensor('float32', x, [2, 2, 4]) });
    expect(out.cat.dims).toEqual([2, 5]);
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) {
      const v = (r: number, c: number) => x[b * 8 + r * 4 + c];
      expected.push(v(0, 1), v(0, 2), v(1, 1), v(1, 2));
      let sum = 0;
      for (let i = 0; i < 8; i++) sum += x[b * 8 + i];
      expected.push(sum / 8);
    }
    close(out.cat.data as Float32Array, expected, 1e-4);
  });

  it('Resize (nearest, scales input with empty roi), Transpose perm, Cast, Gather', async () => {
    const g = new OnnxGraph('resize')
      .input('x', 'float32', [1, 1, 2, 2])
      .initializer('scales', f32([1, 1, 2, 2]), [4])
      .node('Resize', ['x', '', 'scales'], ['up'], { mode: 'nearest' })
      .node('Transpose', ['up'], ['t'], { perm: [0, 1, 3, 2] })
      .node('Cast', ['t'], ['ti'], { to: 7 })
      .initializer('idx', i64([1]), [1])
      .node('Gather', ['ti', 'idx'], ['row'], { axis: 2 })
      .output('up', 'float32', [1, 1, 4, 4])
      .output('t', 'float32', [1, 1, 4, 4])
      .output('row', 'int64', [1, 1, 1, 4]);
    const s = await session(g);
    const x = f32([1, 2, 3, 4]);
    const out = await s.run({ x: new ort.Tensor('float32', x, [1, 1, 2, 2]) });
    close(out.up.data as Float32Array, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    close(out.t.data as Float32Array, [1, 1, 3, 3, 1, 1, 3, 3, 2, 2, 4, 4, 2, 2, 4, 4]);
    expect(Array.from(out.row.data as BigInt64Array)).toEqual([1n, 1n, 3n, 3n]);
  });

  it('Constant with a tensor attribute, int32 initializers, unknown and named dims', async () => {
    const g = new OnnxGraph('const')
      .input('x', 'int32', [null, 'k'])
      .initializer('add', new Int32Array([10, -20]), [2])
      .node('Constant', [], ['c'], { value: { data: f32([0.25, 0.75]), dims: [2] } })
      .node('Add', ['x', 'add'], ['y'])
      .output('y', 'int32', [null, 2])
      .output('c', 'float32', [2]);
    const s = await session(g);
    const out = await s.run({ x: new ort.Tensor('int32', new Int32Array([1, 2, 3, 4]), [2, 2]) });
    expect(Array.from(out.y.data as Int32Array)).toEqual([11, -18, 13, -16]);
    close(out.c.data as Float32Array, [0.25, 0.75]);
  });

  it('If with GRAPH attributes (subgraphs)', async () => {
    const thenG = new OnnxGraph('then').node('Constant', [], ['tv'], { value: { data: f32([1]), dims: [1] } }).output('tv', 'float32', [1]);
    const elseG = new OnnxGraph('else').node('Constant', [], ['ev'], { value: { data: f32([-1]), dims: [1] } }).output('ev', 'float32', [1]);
    const g = new OnnxGraph('if')
      .input('cond', 'bool', [])
      .node('If', ['cond'], ['r'], { then_branch: thenG, else_branch: elseG })
      .output('r', 'float32', [1]);
    const s = await session(g);
    const t = await s.run({ cond: new ort.Tensor('bool', new Uint8Array([1]), []) });
    const f = await s.run({ cond: new ort.Tensor('bool', new Uint8Array([0]), []) });
    expect((t.r.data as Float32Array)[0]).toBe(1);
    expect((f.r.data as Float32Array)[0]).toBe(-1);
  });

  it('an unknown operator is reported by onnxruntime', async () => {
    const g = new OnnxGraph('bad').input('x', 'float32', [2]).node('NoSuchOp', ['x'], ['y']).output('y', 'float32', [2]);
    await expect(ort.InferenceSession.create(Buffer.from(g.toBytes()))).rejects.toThrow(/NoSuchOp/);
  });
});
