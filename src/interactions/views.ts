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

/** Compiles every template once at start; a missing template is a wiring error, found at boot. */
export function loadViews(dir: string): Views {
  const templates = new Map<string, Template>();
  // Every template, subfolders too (`methods/totp-enrol`), by its name relative to `dir` as includes name it.
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ejs')) continue;
    const filename = join(dir, file);
    templates.set(file.slice(0, -4).split(sep).join('/'), ejs.compile(readFileSync(filename, 'utf8'), { filename, async: false }) as Template);
  }
  const layout = templates.get('layout');
  if (!layout) throw new Error(`views: ${dir}/layout.ejs is missing`);
  // Our own `include`, found before ejs's through the templates' `with (locals)`: the partial's
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
