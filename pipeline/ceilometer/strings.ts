/**
 * `String.prototype` methods of the scanners' inner loops, called as plain functions.
 *
 * Why: once any module in the process subclasses `String` (ioredis does, `class VerbatimString extends
 * String`, and the controller loads ioredis), V8 no longer treats `String.prototype`'s map as stable, and
 * optimized code stops inlining `s.charCodeAt(i)` / `s.indexOf(…)` written as method calls: measured 5×
 * slower for `charCodeAt` and 1.8× for `indexOf` in a loop (Node 20). Called through a function held in a
 * constant, the same builtins stay inlined whatever the process loaded. Same results by construction
 * (the very same builtins).
 */
const charCodeAtFn = String.prototype.charCodeAt;
const indexOfFn = String.prototype.indexOf;

/** `s.charCodeAt(i)`. */
export const codeAt = (s: string, i: number): number => charCodeAtFn.call(s, i);

/** `s.indexOf(search, from)`. */
export const indexIn = (s: string, search: string, from?: number): number => indexOfFn.call(s, search, from);
