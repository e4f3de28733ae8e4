import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCircular, parseDependencyTree, prettyCircular, type DependencyTree } from 'dpdm';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/paths';

// The product's import graph, type-only imports included (a type cycle is still a layering knot),
// dynamic imports included. dpdm parses with its own TypeScript 5 (the project's tsc 7 has no JS API).
const graph = (cwd: string, files: string) => parseDependencyTree(files, { cwd, context: cwd, transform: false, skipDynamicImports: false, exclude: /node_modules|\/\.services\/|\/\.cache\// });

describe('import graph', () => {
  let tree: DependencyTree;
  beforeAll(async () => {
    tree = await graph(REPO, '{app,agent,bench,billing,bin,cli,compliance,config,console,controller,estimator,lib,pipeline,profiler,scaler,services,test,scripts}/**/*.{ts,mjs}');
  }, 60_000);

  it('resolves the product\'s own imports (so an empty graph cannot pass for an acyclic one)', () => {
    expect(Object.keys(tree).length).toBeGreaterThan(300);
    const ids = (file: string) => (tree[file] ?? []).map((d) => d.id);
    expect(ids('app/config.ts')).toContain('billing/config.ts');
    expect(ids('app/modules.ts')).toContain('profiler/module.ts');
  });

  it('has no import cycle', () => {
    const cycles = parseCircular(tree);
    expect(cycles, `import cycles:\n${prettyCircular(cycles)}`).toEqual([]);
  });

  it('config/ (the generic loader) imports no component: the composition root app/ assembles the sections', () => {
    const outside = Object.entries(tree)
      .filter(([file]) => file.startsWith('config/'))
      .flatMap(([file, deps]) => (deps ?? []).filter((d) => d.id && !d.id.startsWith('config/') && !d.id.startsWith('node_modules/') && !d.id.startsWith('node:')).map((d) => `${file} → ${d.id}`));
    expect(outside).toEqual([]);
  });
});

describe('the cycle check itself', () => {
  it('finds a cycle through type-only imports', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'layout-'));
    writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport interface A { b?: B }\n");
    writeFileSync(path.join(dir, 'b.ts'), "import { a } from './c';\nexport interface B { n: number }\nexport const b = a;\n");
    writeFileSync(path.join(dir, 'c.ts'), "import type { A } from './a';\nexport const a: A = {};\n");
    const cycles = parseCircular(await graph(dir, '*.ts'));
    expect(cycles.map((c) => [...c].sort())).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});
