// Copies the browser bundle of the resclient npm package (installed by
// `npm ci`) to where the example services embed it from. Run it with
// `npm run vendor` after changing resclient's version in package.json.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(examples, 'node_modules', 'resclient');
const to = path.join(examples, 'internal', 'app', 'shared');
await copyFile(path.join(from, 'dist', 'resclient.min.js'), path.join(to, 'resclient.min.js'));
await copyFile(path.join(from, 'LICENSE'), path.join(to, 'resclient.LICENSE'));
console.log(`copied resclient's dist/resclient.min.js and LICENSE to ${path.relative(examples, to)}/`);
