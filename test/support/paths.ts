import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The read-only shared material beside the repository (never copied into it). */
export const SHARED = process.env.METERING_SHARED_DIR ?? path.resolve(REPO, '../shared');
export const sharedPath = (...parts: string[]): string => path.join(SHARED, ...parts);
