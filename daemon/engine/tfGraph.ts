// TensorFlow graphs built from TypeScript and run by TensorFlow's own executor, on the native backend.
//
// Why: run op by op from JavaScript, every TensorFlow kernel costs an eager dispatch (op lookup,
// attributes, N-API, a tfjs tensor record) on top of its work, and on SmolLM2 at 2 x 128 tokens a
// LoRA step runs about 5,800 of them. A graph run pays that once for hundreds of kernels and lets
// TensorFlow's optimizer (Grappler, with oneDNN's fusions) rewrite the whole thing. tfjs-node
// exposes no way to define a function, but it runs SavedModels through TensorFlow's session API,
// and ships the protocol buffers a SavedModel is made of (dist/proto/api_pb.js): so a graph is
// written as a SavedModel without variables, loaded once as a session, and run with feeds and
// fetches by name. Inputs and outputs are ordinary tfjs tensors (no copies on the CPU).
//
// `GraphBuilder` implements the same `Kernels` interface the eager passes are written against
// (kernels.ts), so the layer math written once runs either way; its "tensors" are symbolic names.
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kernels } from './kernels.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- the generated protobuf classes are untyped */
type Proto = any;

const DT_FLOAT = 1;
const DT_INT32 = 3;
/** The graph version TensorFlow 2.x reads without compatibility rewrites. */
const GRAPH_PRODUCER = 1500;
const TAG = 'anneal';
/** The stand-in for a fed dimension (GraphBuilder.dimension): a prime no real static size is a multiple of. */
const DIMENSION = 1_000_003;

let protos: Proto | null = null;
function pb(): Proto {
  // Resolved as backend.ts resolves packages: from the bundle's folder (dist/), else the working directory.
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  protos ??= createRequire(join(here, 'noop.js'))('@tensorflow/tfjs-node/dist/proto/api_pb');
  return protos;
}

/** A tensor inside a graph being built: the output it names (`node:index`). Typed as tf.Tensor for `Kernels`. */
export interface GraphTensor {
  readonly ref: string;
}

const sym = (ref: string): tf.Tensor => ({ ref }) as GraphTensor as unknown as tf.Tensor;
const refOf = (t: tf.Tensor | GraphTensor): string => (t as unknown as GraphTensor).ref;

type Attr = { type: number } | { b: boolean } | { i: number };

/** Records ops into a GraphDef. Shapes are the caller's business (it passes them as it would eagerly). */
export class GraphBuilder implements Kernels {
  private readonly nodes: Proto[] = [];
  private readonly constants = new Map<string, tf.Tensor>();
  private next = 0;
  /** Fed tensors in feeding order: their names and TensorFlow dtypes. */
  readonly inputs: { name: string; dtype: number }[] = [];
  /** The int32 scalar fed for the dimension `dimension()` stands for, if any. */
  private dynamic: tf.Tensor | null = null;

  /** An input fed at run time, float32 unless said. */
  input(name: string, dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
    const type = dtype === 'int32' ? DT_INT32 : DT_FLOAT;
    this.node(name, 'Placeholder', [], { dtype: { type } });
    this.inputs.push({ name: `${name}:0`, dtype: type });
    return sym(`${name}:0`);
  }

  /**
   * Uniform floats in [0, 1) of x's shape from `seed` (an int32 [2] input): TensorFlow's stateless
   * generator, so the same seed draws the same numbers in every graph and every run.
   */
  uniformLike(x: tf.Tensor, seed: tf.Tensor): tf.Tensor {
    const shape = this.one('Shape', [x], { T: { type: DT_FLOAT }, out_type: { type: DT_INT32 } });
    return this.one('StatelessRandomUniform', [shape, seed], { dtype: { type: DT_FLOAT }, T: { type: DT_INT32 }, Tseed: { type: DT_INT32 } });
  }

  floor<T extends tf.Tensor>(x: T): T {
    return this.one('Floor', [x]) as T;
  }

  /**
   * A dimension fed at run time as an int32 scalar input (a sequence length): returns a stand-in
   * number for the caller's shape arithmetic. `reshape` turns an entry that is a whole multiple k of
   * the stand-in into k times the fed value, so the graph serves every value. One per graph.
   */
  dimension(name: string): number {
    if (this.dynamic) throw new Error('GraphBuilder: one fed dimension per graph');
    this.node(name, 'Placeholder', [], { dtype: { type: DT_INT32 } });
    this.inputs.push({ name: `${name}:0`, dtype: DT_INT32 });
    this.dynamic = sym(`${name}:0`);
    return DIMENSION;
  }

  /** Adds op `op` and returns its `outputs` outputs. */
  op(op: string, inputs: tf.Tensor[], attrs: Record<string, Attr>, outputs = 1): tf.Tensor[] {
    const name = `${op.toLowerCase()}_${this.next++}`;
    this.node(name, op, inputs.map(refOf), attrs);
    return Array.from({ length: outputs }, (_, i) => sym(`${name}:${i}`));
  }

  private one(op: string, inputs: tf.Tensor[], attrs: Record<string, Attr> = { T: { type: DT_FLOAT } }): tf.Tensor {
    return this.op(op, inputs, attrs)[0]!;
  }

  private node(name: string, op: string, inputs: string[], attrs: Record<string, Attr | Proto>): void {
    const P = pb();
    const n = new P.NodeDef();
    n.setName(name);
    n.setOp(op);
    n.setInputList(inputs);
    const map = n.getAttrMap();
    for (const [key, a] of Object.entries(attrs)) {
      if (a instanceof P.AttrValue) {
        map.set(key, a);
        continue;
      }
      const v = new P.AttrValue();
      if ('type' in a) v.setType(a.type);
      else if ('b' in a) v.setB(a.b);
      else v.setI(a.i);
      map.set(key, v);
    }
    this.nodes.push(n);
  }

  /** A constant (made once per value), float32 or int32. */
  private constant(values: number[], dtype: number, shape: number[]): tf.Tensor {
    const key = `${dtype}:${shape.join(',')}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const P = pb();
    const t = new P.Tensor();
    t.setDtype(dtype);
    const s = new P.TensorShape();
    s.setDimList(shape.map((d) => dimOf(P, d)));
    t.setTensorShape(s);
    if (dtype === DT_FLOAT) t.setFloatValList(values);
    else t.setIntValList(values);
    const value = new P.AttrValue();
    value.setTensor(t);
    const name = `const_${this.next++}`;
    this.node(name, 'Const', [], { dtype: { type: dtype }, value });
    const out = sym(`${name}:0`);
    this.constants.set(key, out);
    return out;
  }

  private ints(values: number[], scalar = false): tf.Tensor {
    return this.constant(values, DT_INT32, scalar ? [] : [values.length]);
  }

  scalar(value: number): tf.Tensor {
    return this.constant([value], DT_FLOAT, []);
  }

  matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
    return this.matMul2(a, b, false, transposeB);
  }

  matMul2(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
    return this.one('MatMul', [a, b], { T: { type: DT_FLOAT }, transpose_a: { b: transposeA }, transpose_b: { b: transposeB } }) as tf.Tensor2D;
  }

  batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
    return this.one('BatchMatMulV2', [a, b], { T: { type: DT_FLOAT }, adj_x: { b: false }, adj_y: { b: transposeB } });
  }

  batchMatMulAdj(a: tf.Tensor3D, b: tf.Tensor3D, adjA: boolean, adjB: boolean): tf.Tensor3D {
    return this.one('BatchMatMulV2', [a, b], { T: { type: DT_FLOAT }, adj_x: { b: adjA }, adj_y: { b: adjB } }) as tf.Tensor3D;
  }

  add<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.one('AddV2', [a, b]) as T;
  }

  sub<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.one('Sub', [a, b]) as T;
  }

  mul<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.one('Mul', [a, b]) as T;
  }

  square<T extends tf.Tensor>(x: T): T {
    return this.one('Square', [x]) as T;
  }

  rsqrt<T extends tf.Tensor>(x: T): T {
    return this.one('Rsqrt', [x]) as T;
  }

  sigmoid<T extends tf.Tensor>(x: T): T {
    return this.one('Sigmoid', [x]) as T;
  }

  softmax<T extends tf.Tensor>(x: T): T {
    return this.one('Softmax', [x]) as T;
  }

  meanLast<T extends tf.Tensor>(x: T): T {
    return this.one('Mean', [x, this.ints([-1], true)], { T: { type: DT_FLOAT }, Tidx: { type: DT_INT32 }, keep_dims: { b: true } }) as T;
  }

  sum<T extends tf.Tensor>(x: tf.Tensor, axis: number, keepDims: boolean): T {
    return this.one('Sum', [x, this.ints([axis], true)], { T: { type: DT_FLOAT }, Tidx: { type: DT_INT32 }, keep_dims: { b: keepDims } }) as T;
  }

  reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
    return this.one('Reshape', [x, this.shapeOf(shape)], { T: { type: DT_FLOAT }, Tshape: { type: DT_INT32 } });
  }

  /** A shape as an int32 vector: a constant, or packed with the fed dimension's multiples (`dimension`). */
  private shapeOf(shape: number[]): tf.Tensor {
    if (!shape.some((d) => d >= DIMENSION)) return this.ints(shape);
    const key = `shape:${shape.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const parts = shape.map((d) => {
      if (d < DIMENSION) return this.ints([d], true);
      if (d % DIMENSION !== 0 || !this.dynamic) throw new Error(`GraphBuilder: shape entry ${d} is not a multiple of the fed dimension`);
      const k = d / DIMENSION;
      return k === 1 ? this.dynamic : this.one('Mul', [this.ints([k], true), this.dynamic], { T: { type: DT_INT32 } });
    });
    const packed = this.one('Pack', parts, { T: { type: DT_INT32 }, N: { i: parts.length }, axis: { i: 0 } });
    this.constants.set(key, packed);
    return packed;
  }

  transpose(x: tf.Tensor, perm: number[]): tf.Tensor {
    return this.one('Transpose', [x, this.ints(perm)], { T: { type: DT_FLOAT }, Tperm: { type: DT_INT32 } });
  }

  /** Reverses `x` along `axis`. */
  reverse(x: tf.Tensor, axis: number): tf.Tensor {
    return this.one('ReverseV2', [x, this.ints([axis])], { T: { type: DT_FLOAT }, Tidx: { type: DT_INT32 } });
  }

  split(x: tf.Tensor, sizes: number[], axis: number): tf.Tensor[] {
    return this.op('SplitV', [x, this.ints(sizes), this.ints([axis], true)], { T: { type: DT_FLOAT }, Tlen: { type: DT_INT32 }, num_split: { i: sizes.length } }, sizes.length);
  }

  concat(xs: tf.Tensor[], axis: number): tf.Tensor {
    return this.one('ConcatV2', [...xs, this.ints([axis], true)], { T: { type: DT_FLOAT }, Tidx: { type: DT_INT32 }, N: { i: xs.length } });
  }

  gather(): tf.Tensor2D {
    throw new Error('GraphBuilder: gather is not used in graphs.');
  }

  dispose(): void {}

  /**
   * The graph as a SavedModel without variables (saved_model.pb's bytes), tagged `anneal`, with one
   * signature naming every input and `outputs`. TensorFlow's loader optimizes the graph for the
   * signatures' outputs, and some of its rewrites ignore that an intermediate is fetched (the
   * remapper fuses x * sigmoid(x) into one op and drops the sigmoid): so each output is fetched
   * through an Identity of its own, which no rewrite removes.
   */
  savedModel(outputs: tf.Tensor[]): { bytes: Uint8Array; fetches: string[] } {
    const fetches = outputs.map((t) => {
      const name = `output_${this.next++}`;
      this.node(name, 'Identity', [refOf(t)], { T: { type: DT_FLOAT } });
      return `${name}:0`;
    });
    const P = pb();
    const graph = new P.GraphDef();
    graph.setNodeList(this.nodes);
    const versions = new P.VersionDef();
    versions.setProducer(GRAPH_PRODUCER);
    graph.setVersions(versions);
    const metaInfo = new P.MetaGraphDef.MetaInfoDef();
    metaInfo.setTagsList([TAG]);
    const meta = new P.MetaGraphDef();
    meta.setMetaInfoDef(metaInfo);
    meta.setGraphDef(graph);
    const signature = new P.SignatureDef();
    signature.setMethodName('anneal');
    const info = (name: string, dtype: number) => {
      const t = new P.TensorInfo();
      t.setName(name);
      t.setDtype(dtype);
      return t;
    };
    this.inputs.forEach(({ name, dtype }, i) => signature.getInputsMap().set(`in${i}`, info(name, dtype)));
    fetches.forEach((name, i) => signature.getOutputsMap().set(`out${i}`, info(name, DT_FLOAT)));
    meta.getSignatureDefMap().set(TAG, signature);
    const model = new P.SavedModel();
    model.setSavedModelSchemaVersion(1);
    model.setMetaGraphsList([meta]);
    return { bytes: model.serializeBinary(), fetches };
  }
}

function dimOf(P: Proto, size: number): Proto {
  const d = new P.TensorShape.Dim();
  d.setSize(size);
  return d;
}

interface SessionBackend {
  loadSavedModelMetaGraph(path: string, tags: string): number;
  runSavedModel(id: number, inputs: tf.Tensor[], infos: { name: string }[], outputs: string[]): tf.Tensor[];
  deleteSavedModel(id: number): void;
}

/** Whether the active backend can run graphs (tfjs-node's, with its session methods). */
export function graphsAvailable(): boolean {
  if (tf.getBackend() !== 'tensorflow') return false;
  const be = tf.backend() as unknown as Partial<SessionBackend>;
  if (typeof be.loadSavedModelMetaGraph !== 'function' || typeof be.runSavedModel !== 'function' || typeof be.deleteSavedModel !== 'function') return false;
  try {
    pb();
    return true;
  } catch {
    return false; // tfjs-node's protocol buffers not resolvable from here: layers run op by op
  }
}

/** A built graph loaded as a TensorFlow session on the active (native) backend, computing `outputs`. */
export class GraphSession {
  private readonly be: SessionBackend;
  private readonly id: number;
  private readonly feeds: { name: string }[];
  private readonly fetches: string[];

  constructor(builder: GraphBuilder, outputs: tf.Tensor[]) {
    this.be = tf.backend() as unknown as SessionBackend;
    // TensorFlow's loader reads a directory; the session keeps the graph, so the files go at once.
    const dir = mkdtempSync(join(tmpdir(), 'anneal-graph-'));
    try {
      const { bytes, fetches } = builder.savedModel(outputs);
      writeFileSync(join(dir, 'saved_model.pb'), bytes);
      this.fetches = fetches;
      this.id = this.be.loadSavedModelMetaGraph(dir, TAG);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    this.feeds = builder.inputs.map(({ name }) => ({ name }));
  }

  /** Runs the graph on `inputs` (in the builder's input order) and returns its outputs' values. */
  run(inputs: tf.Tensor[]): tf.Tensor[] {
    if (inputs.length !== this.feeds.length) throw new Error(`graph takes ${this.feeds.length} inputs, got ${inputs.length}`);
    return this.be.runSavedModel(this.id, inputs, this.feeds, this.fetches);
  }

  dispose(): void {
    this.be.deleteSavedModel(this.id);
  }
}
