import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import ejs from 'ejs';
import type { Language, Translate } from '../i18n/index.ts';

export interface PageMessage {
  /** Stable id, e.g. `errors:code_invalid`; rendered as data-message-id so tests never match English. */
  id: string;
  type: 'error' | 'info' | 'success';
  params?: Record<string, unknown>;
  /**
   * The form field it is about (the input's id): shown beside that field by views/_field-error.ejs,
   * which also marks the field `aria-invalid`/`aria-describedby`; without one, in the banner.
   */
  field?: string;
}

export interface PageData {
  lang: Language;
  t: Translate;
  title: string;
  messages?: PageMessage[];
  [key: string]: unknown;
}

type Template = (data: Record<string, unknown>) => string;

export interface Views {
  render(name: string, data: PageData): string;
}

/** Words in a template's code that are not names it could mean from its data. */
const NOT_DATA = new Set(
  'break case catch class const continue debugger default delete do else export extends false finally for function if import in instanceof let new null return super switch this throw true try typeof var void while with yield await of undefined NaN Infinity locals arguments'.split(' '),
);

/**
 * The names a template's code uses, each declared as a variable of its data (`var csrf =
 * locals.csrf, …`) ahead of its own code, which then compiles without ejs's `with (locals)`: every
 * name inside a `with` is looked up at run time through the data object, and a page render took
 * twice as long (the sign-in page 19.7 → 8.5 µs, hot). The names are every identifier in the code
 * parts (`<% … %>`) that is not a property (`x.name`), a keyword, or a global (`JSON`,
 * `encodeURIComponent`: declaring those would hide them); extra names are harmless (`undefined`,
 * as a missing one was before), and the template's own `var`s simply assign the same variables.
 */
export function withLocalsAsVariables(source: string): string {
  const names = new Set<string>();
  for (const tag of source.matchAll(/<%[-=_]?([\s\S]*?)[-_]?%>/g)) {
    const code = tag[1]!.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
    for (const word of code.matchAll(/(?<![.\w$])([A-Za-z_$][\w$]*)/g)) {
      const name = word[1]!;
      if (!NOT_DATA.has(name) && !(name in globalThis)) names.add(name);
    }
  }
  return names.size === 0 ? source : `<% var ${[...names].map((n) => `${n} = locals.${n}`).join(', ')}; %>${source}`;
}

/** Compiles every template once at start; a missing template is a wiring error, found at boot. */
export function loadViews(dir: string): Views {
  const templates = new Map<string, Template>();
  // Every template, subfolders too (`methods/totp-enrol`), by its name relative to `dir` as includes name it.
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ejs')) continue;
    const filename = join(dir, file);
    templates.set(file.slice(0, -4).split(sep).join('/'), ejs.compile(withLocalsAsVariables(readFileSync(filename, 'utf8')), { filename, async: false, _with: false }) as Template);
  }
  const layout = templates.get('layout');
  if (!layout) throw new Error(`views: ${dir}/layout.ejs is missing`);
  // Our own `include`, a variable of the data like any other name (it replaces ejs's own): the partial's
  // compiled function straight from the map, with ejs's semantics (the caller's locals, then the
  // data given). ejs's own resolves the path and stats the file on every include.
  const includeFrom = (caller: Record<string, unknown>) => (name: string, data?: Record<string, unknown>): string => {
    const partial = templates.get(name);
    if (!partial) throw new Error(`views: no template "${name}" to include`);
    const locals: Record<string, unknown> = { ...caller, ...data };
    locals.include = includeFrom(locals);
    return partial(locals);
  };
  return {
    render(name, data) {
      const page = templates.get(name);
      if (!page) throw new Error(`views: no template "${name}"`);
      const locals: Record<string, unknown> = { ...data };
      locals.include = includeFrom(locals);
      const body = page(locals);
      const outer: Record<string, unknown> = { ...locals, body };
      outer.include = includeFrom(outer);
      return layout(outer);
    },
  };
}
