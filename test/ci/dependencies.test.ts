/**
 * package.json against the code: what `hil` can load at run time must be in "dependencies" (an
 * install with `npm ci --omit=dev` runs benches), and what only tests, benchmarks and lint use
 * belongs in "devDependencies".
 *
 * The run-time set is found by walking the import graph from what `hil` starts or loads: bin/hil.js,
 * the rig files and the scenarios, and every module a reached file starts by path
 * (`new URL('./worker.ts', import.meta.url)`: the sim process, worker threads). Type-only imports are
 * erased and do not count.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve('.');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface FileImports {
  /** Package names (`@scope/name` or `name`) loaded at run time. */
  packages: Set<string>;
  /** Absolute paths of local modules this file loads or starts. */
  files: Set<string>;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!);
}

function literal(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/** `import.meta.url` */
function isImportMetaUrl(node: ts.Node): boolean {
  return ts.isPropertyAccessExpression(node) && node.name.text === 'url' && ts.isMetaProperty(node.expression);
}

/** The run-time imports of one file, from its syntax tree (not regexes: imports span lines). */
export function importsOf(file: string, text = fs.readFileSync(file, 'utf8')): FileImports {
  const out: FileImports = { packages: new Set(), files: new Set() };
  const kind = file.endsWith('.js') || file.endsWith('.mjs') ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const add = (spec: string): void => {
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const target = path.resolve(path.dirname(file), spec);
      if (fs.existsSync(target) && fs.statSync(target).isFile()) out.files.add(target);
    } else if (!isBuiltin(spec)) {
      out.packages.add(packageName(spec));
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      // `import type {…}`, or `import { type A, type B }` with only type specifiers, is erased.
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && clause.namedBindings !== undefined
        && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0
        && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      const spec = literal(node.moduleSpecifier);
      if (spec !== undefined && !typeOnly) add(spec);
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly) {
      const spec = literal(node.moduleSpecifier);
      if (spec !== undefined) add(spec);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const arg = literal(node.arguments[0]);
      if (arg !== undefined) {
        const dynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
        const requireCall = ts.isIdentifier(callee) && callee.text === 'require';
        // require.resolve('x') and import.meta.resolve('x'): a package read from disk or handed to a worker.
        const resolveCall = ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve'
          && ((ts.isIdentifier(callee.expression) && callee.expression.text === 'require') || ts.isMetaProperty(callee.expression));
        if (dynamicImport || requireCall || resolveCall) add(arg);
      }
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      // new URL('./main.ts', import.meta.url): a module started by path (child process, worker).
      const arg = literal(node.arguments?.[0]);
      const base = node.arguments?.[1];
      if (arg !== undefined && base !== undefined && isImportMetaUrl(base) && /\.[cm]?[jt]s$/.test(arg)) add(arg);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function listSources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => path.join(abs, f));
}

/** Every local module `hil` can load at run time, and for each package the files that load it. */
function runtimeGraph(): { files: Set<string>; packages: Map<string, string[]> } {
  const roots = [path.join(ROOT, 'bin/hil.js'), ...listSources('rigs'), ...listSources('scenarios')];
  const files = new Set<string>();
  const packages = new Map<string, string[]>();
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const imp = importsOf(file);
    for (const p of imp.packages) packages.set(p, [...(packages.get(p) ?? []), path.relative(ROOT, file)]);
    for (const f of imp.files) if (!files.has(f)) queue.push(f);
  }
  return { files, packages };
}

describe('package.json dependencies', function () {
  const graph = runtimeGraph();
  const rel = (f: string): string => path.relative(ROOT, f);

  it('the walk reaches what hil starts by path and what it imports lazily (guards the walker itself)', function () {
    const reached = [...graph.files].map(rel);
    // Started by path, not imported: the sim process and the ESP worker thread.
    expect(reached).to.include.members(['harness/cli/main.ts', 'harness/sim/main.ts', 'harness/sim/esp/worker.ts', 'harness/runner/run.ts']);
    expect(graph.packages.get('mocha')).to.include('harness/runner/run.ts');
    expect(graph.packages.get('tsx')).to.include('bin/hil.js');
    expect(graph.packages.get('uplot'), 'require.resolve of a package counts').to.not.equal(undefined);
  });

  it('the walker skips type-only imports and builtins, and follows dynamic and by-path loads', function () {
    const file = path.join(ROOT, 'harness/x.ts');
    const imp = importsOf(file, [
      "import type { A } from 'only-types';",
      "import { type B, type C } from 'also-types';",
      "import fs from 'node:fs';",
      "import path from 'path';",
      "import { D, type E } from '@scope/pkg/sub';",
      "const m = await import('lazy');",
      "const u = new URL('./sim/main.ts', import.meta.url);",
    ].join('\n'));
    expect([...imp.packages].sort()).to.deep.equal(['@scope/pkg', 'lazy']);
    expect([...imp.files].map(rel)).to.deep.equal(['harness/sim/main.ts']);
  });

  it('everything hil can load at run time is in "dependencies" (npm ci --omit=dev must run a bench)', function () {
    const missing = [...graph.packages].filter(([p]) => !(p in pkg.dependencies)).map(([p, by]) => `${p} (imported by ${by.join(', ')})`);
    expect(missing, 'packages loaded at run time but not in "dependencies"').to.deep.equal([]);
  });

  it('"dependencies" holds nothing the run never loads (test-only packages are devDependencies)', function () {
    const unused = Object.keys(pkg.dependencies).filter((p) => !graph.packages.has(p));
    expect(unused, 'in "dependencies" but never loaded by hil, its rigs or its scenarios').to.deep.equal([]);
  });

  it('every package imported anywhere in the repository is declared in package.json', function () {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]);
    const undeclared: string[] = [];
    for (const dir of ['bin', 'harness', 'rigs', 'scenarios', 'test', 'bench']) {
      for (const file of listSources(dir)) {
        for (const p of importsOf(file).packages) if (!declared.has(p)) undeclared.push(`${p} (${rel(file)})`);
      }
    }
    expect(undeclared).to.deep.equal([]);
  });
});
