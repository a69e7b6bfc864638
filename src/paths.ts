/** The package root, whether running from dist/ (compiled) or src/ (tests). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
export const ROOT = path.resolve(path.dirname(here), here.endsWith('.ts') ? '..' : '../..');
