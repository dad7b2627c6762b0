// Times ONNX Runtime's float inference of an ONNX model taking 1×28×28 images (default cnn.onnx),
// one thread, batch 128, all graph optimisations, for 3 s after a warm-up; prints the fastest call's
// rate (what `a2q bench infer` reports) and the mean rate as JSON.
//
//   npm install --ignore-scripts onnxruntime-node@1.31.1   # the CPU binaries ship in the package
//   node ort_bench.js [model.onnx]
const ort = require('onnxruntime-node');

(async () => {
  const file = process.argv[2] || 'cnn.onnx';
  const s = await ort.InferenceSession.create(file,
    {intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all'});
  const n = 128, x = new Float32Array(n * 28 * 28);
  for (let i = 0; i < x.length; i++) x[i] = Math.random();
  const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', x, [n, 1, 28, 28])};
  for (let i = 0; i < 20; i++) await s.run(feeds);
  let best = Infinity, runs = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 3000) {
    const a = process.hrtime.bigint();
    await s.run(feeds);
    best = Math.min(best, Number(process.hrtime.bigint() - a) / 1e9);
    runs++;
  }
  console.log(JSON.stringify({file, onnxruntime: ort.env.versions.common,
    best_images_per_sec: n / best, mean_images_per_sec: n * runs / ((Date.now() - t0) / 1000)}));
})();
