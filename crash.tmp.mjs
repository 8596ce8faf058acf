import { initEngine, tf } from './dist/src/engine/backend.js';
import { releaseWebgpu } from './dist/src/engine/webgpu/dawn.js';
process.env.PMOE_WEBGPU_SOFTWARE = '1';
await initEngine('webgpu');
const a = tf.randomNormal([64, 64]);
for (let i = 0; i < 20; i++) tf.tidy(() => tf.sum(tf.matMul(a, a)).dataSync());
if (process.argv[2] !== 'keep') releaseWebgpu();
