/**
 * A tiny ONNX model writer: a hand-written protobuf encoder for the handful of ONNX messages
 * (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, TypeProto, AttributeProto,
 * OperatorSetIdProto, StringStringEntryProto) needed to build small test graphs.
 *
 * It exists so tests can generate "tiny" models with exactly the input/output names, dtypes and
 * ranks of real exports (SAM 2.1, SAM 3, HaMeR, depth, FoundationPose, ...) and predictable
 * numerical behaviour, then run the real loading and pre/post-processing code on them.
 *
 * Field numbers follow onnx/onnx.proto (proto2 syntax: repeated scalars that are not marked
 * `packed` are written unpacked; tensor payloads go to `raw_data`, little-endian).
 *
 * Usage:
 *   const g = new OnnxGraph('add');
 *   g.input('x', 'float32', ['batch', 3]);
 *   g.initializer('b', new Float32Array([1, 2, 3]), [3]);
 *   g.node('Add', ['x', 'b'], ['y']);
 *   g.output('y', 'float32', ['batch', 3]);
 *   const bytes = g.toBytes(); // ModelProto, ir_version 8, opset 17
 */

// ---------------------------------------------------------------------------------------------
// Protobuf primitives

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Growable byte sink with protobuf field writers. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Raw varint. Negative numbers are written as 64-bit two's complement (10 bytes), as protobuf does for int32/int64. */
  varint(value: number | bigint): this {
    let v = typeof value === 'bigint' ? value : BigInt(checkInteger(value));
    if (v < 0n) v = BigInt.asUintN(64, v);
    if (v >= 1n << 64n) throw new RangeError(`varint out of 64-bit range: ${value}`);
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  /** int32/int64/enum/bool field (varint). */
  fieldVarint(field: number, value: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  /** float field (fixed32). */
  fieldFloat(field: number, value: number): this {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  /** double field (fixed64). */
  fieldDouble(field: number, value: number): this {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, value, true);
    this.len += 8;
    return this;
  }

  /** bytes / string / embedded message field (length-delimited). */
  fieldBytes(field: number, data: Uint8Array): this {
    return this.tag(field, WIRE_LEN).varint(data.length).bytes(data);
  }

  fieldString(field: number, s: string): this {
    return this.fieldBytes(field, new TextEncoder().encode(s));
  }

  fieldMessage(field: number, encode: (w: ProtoWriter) => void): this {
    const sub = new ProtoWriter();
    encode(sub);
    return this.fieldBytes(field, sub.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function checkInteger(v: number): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`expected a safe integer, got ${v}`);
  return v;
}

/** Encode one varint on its own (exported for tests). */
export function encodeVarint(value: number | bigint): Uint8Array {
  return new ProtoWriter().varint(value).finish();
}

// ---------------------------------------------------------------------------------------------
// ONNX enums and field numbers (onnx/onnx.proto)

/** TensorProto.DataType values. */
export const DATA_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
} as const;

export type DType = keyof typeof DATA_TYPE;

/** AttributeProto.AttributeType values. */
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

const F = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 },
  opset: { domain: 1, version: 2 },
  entry: { key: 1, value: 2 },
  graph: { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7 },
  attr: { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, type: 20 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9 },
  valueInfo: { name: 1, type: 2, docString: 3 },
  type: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;

// ---------------------------------------------------------------------------------------------
// Tensors

export type TensorData = Float32Array | Float64Array | BigInt64Array | BigUint64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/** A constant tensor (initializer or attribute value). */
export interface TensorValue {
  data: TensorData;
  dims: readonly number[];
  /** Element type; inferred from the typed array when left out ('bool' and 'float16' need it). */
  dtype?: DType;
  name?: string;
}

export function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  throw new TypeError('unsupported tensor data type');
}

const ELEM_BYTES: Partial<Record<DType, number>> = {
  float32: 4, float64: 8, int64: 8, uint64: 8, int32: 4, uint32: 4, int16: 2, uint16: 2, float16: 2, int8: 1, uint8: 1, bool: 1,
};

/** Little-endian raw bytes of a typed array, regardless of host endianness. */
function rawBytes(data: TensorData, dtype: DType): Uint8Array {
  const size = ELEM_BYTES[dtype];
  if (size === undefined) throw new TypeError(`cannot store ${dtype} tensors`);
  if (data.BYTES_PER_ELEMENT !== size) throw new TypeError(`dtype ${dtype} needs ${size}-byte elements, got ${data.BYTES_PER_ELEMENT}`);
  const out = new Uint8Array(data.length * size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const o = i * size;
    if (data instanceof Float32Array) dv.setFloat32(o, v as number, true);
    else if (data instanceof Float64Array) dv.setFloat64(o, v as number, true);
    else if (data instanceof BigInt64Array) dv.setBigInt64(o, v as bigint, true);
    else if (data instanceof BigUint64Array) dv.setBigUint64(o, v as bigint, true);
    else if (data instanceof Int32Array) dv.setInt32(o, v as number, true);
    else if (data instanceof Uint32Array) dv.setUint32(o, v as number, true);
    else if (data instanceof Int16Array) dv.setInt16(o, v as number, true);
    else if (data instanceof Uint16Array) dv.setUint16(o, v as number, true);
    else if (data instanceof Int8Array) dv.setInt8(o, v as number);
    else dv.setUint8(o, v as number);
  }
  return out;
}

function encodeTensor(w: ProtoWriter, t: TensorValue): void {
  const dtype = t.dtype ?? dtypeOf(t.data);
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new RangeError(`tensor ${t.name ?? '(unnamed)'}: dims [${t.dims.join(',')}] hold ${count} elements, data has ${t.data.length}`);
  }
  for (const d of t.dims) w.fieldVarint(F.tensor.dims, checkInteger(d));
  w.fieldVarint(F.tensor.dataType, DATA_TYPE[dtype]);
  if (t.name) w.fieldString(F.tensor.name, t.name);
  w.fieldBytes(F.tensor.rawData, rawBytes(t.data, dtype));
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** Explicitly typed attribute (use when inference from a plain value would be ambiguous, e.g. a float 1.0). */
export type TypedAttr =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number | bigint }
  | { kind: 'string'; value: string }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'ints'; value: readonly (number | bigint)[] }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'tensor'; value: TensorValue }
  | { kind: 'graph'; value: OnnxGraph };

/**
 * Attribute value. Plain values are inferred: integer number -> INT, other number -> FLOAT,
 * bigint -> INT, string -> STRING, number[] -> INTS when all are integers else FLOATS,
 * Float32Array -> FLOATS, BigInt64Array -> INTS, string[] -> STRINGS, OnnxGraph -> GRAPH,
 * {data, dims} -> TENSOR. Use the `attr.*` helpers to force a type.
 */
export type AttrValue = number | bigint | string | readonly number[] | readonly bigint[] | readonly string[] | Float32Array | BigInt64Array | TensorValue | OnnxGraph | TypedAttr;

export const attr = {
  float: (value: number): TypedAttr => ({ kind: 'float', value }),
  int: (value: number | bigint): TypedAttr => ({ kind: 'int', value }),
  string: (value: string): TypedAttr => ({ kind: 'string', value }),
  floats: (value: readonly number[]): TypedAttr => ({ kind: 'floats', value }),
  ints: (value: readonly (number | bigint)[]): TypedAttr => ({ kind: 'ints', value }),
  strings: (value: readonly string[]): TypedAttr => ({ kind: 'strings', value }),
  tensor: (value: TensorValue): TypedAttr => ({ kind: 'tensor', value }),
  graph: (value: OnnxGraph): TypedAttr => ({ kind: 'graph', value }),
};

function isTypedAttr(v: unknown): v is TypedAttr {
  return typeof v === 'object' && v !== null && 'kind' in v && 'value' in v;
}

function isTensorValue(v: unknown): v is TensorValue {
  return typeof v === 'object' && v !== null && 'data' in v && 'dims' in v;
}

function normalizeAttr(name: string, v: AttrValue): TypedAttr {
  if (isTypedAttr(v)) return v;
  if (v instanceof OnnxGraph) return { kind: 'graph', value: v };
  if (typeof v === 'bigint') return { kind: 'int', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'float', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (v instanceof Float32Array) return { kind: 'floats', value: Array.from(v) };
  if (v instanceof BigInt64Array) return { kind: 'ints', value: Array.from(v) };
  if (isTensorValue(v)) return { kind: 'tensor', value: v };
  if (Array.isArray(v)) {
    const arr = v as readonly unknown[];
    if (arr.every((x) => typeof x === 'string')) return { kind: 'strings', value: arr as string[] };
    if (arr.every((x) => typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x)))) {
      return { kind: 'ints', value: arr as (number | bigint)[] };
    }
    if (arr.every((x) => typeof x === 'number')) return { kind: 'floats', value: arr as number[] };
  }
  throw new TypeError(`attribute ${name}: cannot infer the ONNX type of ${String(v)}`);
}

function encodeAttr(w: ProtoWriter, name: string, value: AttrValue): void {
  const a = normalizeAttr(name, value);
  w.fieldString(F.attr.name, name);
  switch (a.kind) {
    case 'float':
      w.fieldFloat(F.attr.f, a.value).fieldVarint(F.attr.type, ATTR_TYPE.FLOAT);
      break;
    case 'int':
      w.fieldVarint(F.attr.i, a.value).fieldVarint(F.attr.type, ATTR_TYPE.INT);
      break;
    case 'string':
      w.fieldString(F.attr.s, a.value).fieldVarint(F.attr.type, ATTR_TYPE.STRING);
      break;
    case 'floats':
      for (const x of a.value) w.fieldFloat(F.attr.floats, x);
      w.fieldVarint(F.attr.type, ATTR_TYPE.FLOATS);
      break;
    case 'ints':
      for (const x of a.value) w.fieldVarint(F.attr.ints, x);
      w.fieldVarint(F.attr.type, ATTR_TYPE.INTS);
      break;
    case 'strings':
      for (const x of a.value) w.fieldString(F.attr.strings, x);
      w.fieldVarint(F.attr.type, ATTR_TYPE.STRINGS);
      break;
    case 'tensor':
      w.fieldMessage(F.attr.t, (t) => encodeTensor(t, a.value)).fieldVarint(F.attr.type, ATTR_TYPE.TENSOR);
      break;
    case 'graph':
      w.fieldBytes(F.attr.g, a.value.toGraphProto()).fieldVarint(F.attr.type, ATTR_TYPE.GRAPH);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Graph builder

/** A dimension: a fixed size, a symbolic name ('batch'), or null (unknown, no name). */
export type Dim = number | string | null;

interface ValueInfo {
  name: string;
  dtype: DType;
  /** undefined: shape left out entirely (unknown rank) */
  dims?: readonly Dim[];
  doc?: string;
}

interface NodeDef {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Record<string, AttrValue>;
  name: string;
  domain?: string;
}

export interface NodeOptions {
  name?: string;
  /** operator set domain ('' / undefined = default ONNX domain; 'com.microsoft' for contrib ops) */
  domain?: string;
}

export interface ModelOptions {
  /** default 8 */
  irVersion?: number;
  /** default opset version for the ONNX domain, 17 */
  opset?: number;
  /** extra operator sets, e.g. { 'com.microsoft': 1 } */
  extraOpsets?: Record<string, number>;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** ModelProto.metadata_props (visible through onnxruntime's model metadata / netron) */
  metadata?: Record<string, string>;
}

export class OnnxGraph {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly valueInfos: ValueInfo[] = [];
  private readonly initializers: TensorValue[] = [];
  private readonly nodes: NodeDef[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(
    readonly name = 'graph',
    readonly docString?: string,
  ) {}

  /** Declare a graph input. `dims` entries: number (fixed), string (symbolic, e.g. 'batch'), null (unknown). */
  input(name: string, dtype: DType, dims?: readonly Dim[], doc?: string): this {
    this.inputs.push({ name, dtype, dims, doc });
    return this;
  }

  /** Declare a graph output (must be produced by a node, an input or an initializer). */
  output(name: string, dtype: DType, dims?: readonly Dim[], doc?: string): this {
    this.outputs.push({ name, dtype, dims, doc });
    return this;
  }

  /** Optional type/shape annotation of an intermediate value. */
  valueInfo(name: string, dtype: DType, dims?: readonly Dim[]): this {
    this.valueInfos.push({ name, dtype, dims });
    return this;
  }

  /** A constant tensor stored in the graph. `dtype` overrides the inferred type ('bool' with a Uint8Array, 'float16' with a Uint16Array). */
  initializer(name: string, data: TensorData, dims: readonly number[], dtype?: DType): this {
    this.initializers.push({ name, data, dims, dtype });
    return this;
  }

  /** Add a node. Use '' for an omitted optional input. Nodes must be added in topological order. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): this {
    let name = opts.name ?? `${opType}_${this.counter}`;
    this.counter++;
    while (this.names.has(name)) name = `${name}_`;
    this.names.add(name);
    this.nodes.push({ opType, inputs, outputs, attrs, name, domain: opts.domain });
    return this;
  }

  /** Fresh value name for intermediate tensors: tmp('mean') -> 'mean_3'. */
  tmp(prefix = 'v'): string {
    return `${prefix}_${this.counter++}`;
  }

  get inputNames(): string[] {
    return this.inputs.map((v) => v.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((v) => v.name);
  }

  /** Serialized GraphProto (also used for subgraph attributes of If/Loop/Scan). */
  toGraphProto(): Uint8Array {
    const w = new ProtoWriter();
    for (const n of this.nodes) {
      w.fieldMessage(F.graph.node, (nw) => {
        for (const i of n.inputs) nw.fieldString(F.node.input, i);
        for (const o of n.outputs) nw.fieldString(F.node.output, o);
        nw.fieldString(F.node.name, n.name);
        nw.fieldString(F.node.opType, n.opType);
        for (const [k, v] of Object.entries(n.attrs)) nw.fieldMessage(F.node.attribute, (aw) => encodeAttr(aw, k, v));
        if (n.domain) nw.fieldString(F.node.domain, n.domain);
      });
    }
    w.fieldString(F.graph.name, this.name);
    for (const t of this.initializers) w.fieldMessage(F.graph.initializer, (tw) => encodeTensor(tw, t));
    if (this.docString) w.fieldString(F.graph.docString, this.docString);
    for (const v of this.inputs) w.fieldMessage(F.graph.input, (vw) => encodeValueInfo(vw, v));
    for (const v of this.outputs) w.fieldMessage(F.graph.output, (vw) => encodeValueInfo(vw, v));
    for (const v of this.valueInfos) w.fieldMessage(F.graph.valueInfo, (vw) => encodeValueInfo(vw, v));
    return w.finish();
  }

  /** Serialized ModelProto wrapping this graph (ir_version 8, opset 17 unless told otherwise). */
  toBytes(opts: ModelOptions = {}): Uint8Array {
    const w = new ProtoWriter();
    w.fieldVarint(F.model.irVersion, opts.irVersion ?? 8);
    w.fieldString(F.model.producerName, opts.producerName ?? 'egopipe');
    if (opts.producerVersion) w.fieldString(F.model.producerVersion, opts.producerVersion);
    if (opts.docString) w.fieldString(F.model.docString, opts.docString);
    w.fieldBytes(F.model.graph, this.toGraphProto());
    w.fieldMessage(F.model.opsetImport, (ow) => ow.fieldString(F.opset.domain, '').fieldVarint(F.opset.version, opts.opset ?? 17));
    for (const [domain, version] of Object.entries(opts.extraOpsets ?? {})) {
      w.fieldMessage(F.model.opsetImport, (ow) => ow.fieldString(F.opset.domain, domain).fieldVarint(F.opset.version, version));
    }
    for (const [key, value] of Object.entries(opts.metadata ?? {})) {
      w.fieldMessage(F.model.metadataProps, (ew) => ew.fieldString(F.entry.key, key).fieldString(F.entry.value, value));
    }
    return w.finish();
  }
}

function encodeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.fieldString(F.valueInfo.name, v.name);
  w.fieldMessage(F.valueInfo.type, (tw) =>
    tw.fieldMessage(F.type.tensorType, (ttw) => {
      ttw.fieldVarint(F.tensorType.elemType, DATA_TYPE[v.dtype]);
      if (v.dims) {
        const dims = v.dims;
        ttw.fieldMessage(F.tensorType.shape, (sw) => {
          for (const d of dims) {
            sw.fieldMessage(F.shape.dim, (dw) => {
              if (typeof d === 'number') dw.fieldVarint(F.dim.value, checkInteger(d));
              else if (typeof d === 'string') dw.fieldString(F.dim.param, d);
            });
          }
        });
      }
    }),
  );
  if (v.doc) w.fieldString(F.valueInfo.docString, v.doc);
}

/** Convenience: int64 initializer data from plain numbers. */
export function i64(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values.map((v) => BigInt(checkInteger(v))));
}

/** Convenience: float32 data from plain numbers. */
export function f32(values: readonly number[]): Float32Array {
  return Float32Array.from(values);
}
