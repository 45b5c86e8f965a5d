import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { objectsOf } from '../../src/option-hints.js';
import { optionsSchema, routeOverridesSchema } from '../../src/options.js';

/**
 * Every option shows its description and default where the user looks: this asks the
 * TypeScript language service, as an editor does, for the hover text of every option key (the
 * schema's keys, recursively) in a consumer file, and wants a description with "Defaults to".
 */
const root = resolve(import.meta.dirname, '../..');
const file = resolve(root, 'test/unit/hover-consumer.ts');

interface Key {
  path: string;
  name: string;
  offset: number;
}

/** An object literal naming every key of `schema` (placeholders for values), and where each key sits. */
function literal(schema: unknown, prefix: string, keys: Key[], at: () => number): string {
  const shapes = objectsOf(schema);
  const names = [...new Set(shapes.flatMap((s) => Object.keys(s.shape)))];
  let out = '{ ';
  for (const name of names) {
    keys.push({ path: `${prefix}${name}`, name, offset: at() + out.length });
    out += `${name}: `;
    const child = shapes.map((s) => s.shape[name]).find((c) => objectsOf(c).length > 0);
    out += child
      ? literal(child, `${prefix}${name}.`, keys, () => at() + out.length)
      : 'undefined as never';
    out += ', ';
  }
  return `${out}}`;
}

function consumer(): { text: string; keys: Key[] } {
  const keys: Key[] = [];
  let text = `import { photodnaGuard } from '../../src/index.js';\nconst guard = photodnaGuard(`;
  const start = text.length;
  text += literal(optionsSchema, '', keys, () => start);
  text += ');\nguard.route(';
  const routeStart = text.length;
  const routeKeys: Key[] = [];
  text += literal(routeOverridesSchema, 'route:', routeKeys, () => routeStart);
  text += ');\n';
  return { text, keys: [...keys, ...routeKeys] };
}

function languageService(text: string): ts.LanguageService {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  };
  const read = (name: string) => (name === file ? text : ts.sys.readFile(name));
  return ts.createLanguageService({
    getScriptFileNames: () => [file],
    getScriptVersion: () => '1',
    getScriptSnapshot: (name) => {
      const content = read(name);
      return content === undefined ? undefined : ts.ScriptSnapshot.fromString(content);
    },
    getCurrentDirectory: () => root,
    getCompilationSettings: () => options,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (name) => name === file || ts.sys.fileExists(name),
    readFile: read,
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
  });
}

describe('hovering an option in an editor', () => {
  const { text, keys } = consumer();
  const service = languageService(text);

  it('the consumer file compiles (so every hover below is on a real option)', () => {
    const errors = service
      .getSemanticDiagnostics(file)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
    expect(keys.length).toBeGreaterThan(50);
  });

  it('shows a description and "Defaults to ..." (or "Required, no default") for every key', () => {
    const missing = keys.flatMap((key) => {
      const info = service.getQuickInfoAtPosition(file, key.offset);
      const doc = ts.displayPartsToString(info?.documentation ?? []);
      const shown = ts.displayPartsToString(info?.displayParts ?? []);
      if (!shown.includes(key.name)) return [`${key.path}: hover shows "${shown}"`];
      // A key that must be given says so instead of naming a default.
      if (doc.length < 10 || !/Defaults to |Required, no default/.test(doc))
        return [`${key.path}: "${doc}"`];
      return [];
    });
    expect(missing).toEqual([]);
  });
});
