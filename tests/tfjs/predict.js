// Runs generated Keras models in TensorFlow.js (pure JS, CPU backend) to make expected outputs.
//
//   node predict.js CASE_DIR...
//
// Each CASE_DIR holds tfjs.json (model_config + weight list), tfjs.bin and x.npy, as written by
// gen_models.py; expected.npy (float32) is written next to them. All cases run in one process
// (loading tfjs takes a second). A case that fails prints "FAIL <dir>: <reason>" and gets no
// expected.npy; the exit code is 1 when any case failed.
'use strict';
const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');

// ---- .npy (format 1.0/2.0/3.0, little-endian float32/float64, C order) ----

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const order = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw new Error(`${file}: unreadable npy header ${header}`);
  if (order[1] !== 'False') throw new Error(`${file}: Fortran-order arrays are not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const view = new DataView(buf.buffer, buf.byteOffset + start);
  if (descr[1] === '<f4') for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, true);
  else if (descr[1] === '<f8') for (let i = 0; i < n; i++) data[i] = view.getFloat64(8 * i, true);
  else throw new Error(`${file}: dtype ${descr[1]} is not supported (float32/float64 only)`);
  return {shape: dims, data};
}

function writeNpy(file, shape, data) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';  // pad so data starts at 64*k
  const out = Buffer.alloc(10 + header.length + 4 * data.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], 10 + header.length + 4 * i);
  fs.writeFileSync(file, out);
}

// ---- one case ----

async function runCase(dir) {
  const side = JSON.parse(fs.readFileSync(path.join(dir, 'tfjs.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, side.weights_file));
  const model = await tf.models.modelFromJSON({modelTopology: side.model_config});

  // Weights grouped by layer, in file order; each layer gets exactly its stored list.
  const byLayer = new Map();
  for (const w of side.weights) {
    if (!byLayer.has(w.layer)) byLayer.set(w.layer, []);
    const n = w.shape.reduce((a, b) => a * b, 1);
    const bytes = bin.subarray(w.offset, w.offset + 4 * n);
    if (bytes.length !== 4 * n) throw new Error(`weight ${w.name}: tfjs.bin is too short`);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = bytes.readFloatLE(4 * i);
    byLayer.get(w.layer).push({name: w.name, tensor: tf.tensor(values, w.shape, 'float32')});
  }
  for (const layer of model.layers) {
    const want = layer.weights;
    const got = byLayer.get(layer.name) || [];
    byLayer.delete(layer.name);
    if (want.length !== got.length) {
      throw new Error(`layer ${layer.name}: tfjs expects ${want.length} weights, the file has ${got.length}`);
    }
    want.forEach((v, i) => {
      const a = JSON.stringify(v.shape), b = JSON.stringify(got[i].tensor.shape);
      if (a !== b) throw new Error(`layer ${layer.name}: weight ${got[i].name} has shape ${b}, tfjs wants ${v.name} ${a}`);
    });
    if (got.length) layer.setWeights(got.map((g) => g.tensor));
  }
  if (byLayer.size) throw new Error(`weights for layers tfjs does not have: ${[...byLayer.keys()].join(', ')}`);

  const x = readNpy(path.join(dir, 'x.npy'));
  const y = tf.tidy(() => model.predict(tf.tensor(x.data, x.shape, 'float32')));
  if (Array.isArray(y)) throw new Error('models with several outputs are not supported here');
  writeNpy(path.join(dir, 'expected.npy'), y.shape, y.dataSync());
  return y.shape;
}

async function main() {
  const dirs = process.argv.slice(2);
  if (!dirs.length) {
    console.error('usage: node predict.js CASE_DIR...');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  // The CPU backend advertises tfjs-node on its first tensor; that package needs a download.
  const warn = console.warn;
  console.warn = () => {};
  tf.scalar(0).dispose();
  console.warn = warn;
  let failed = 0;
  for (const dir of dirs) {
    try {
      const shape = await runCase(dir);
      console.log(`ok ${dir} -> [${shape.join(', ')}]`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${dir}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
