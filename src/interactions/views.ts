import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.ejs')) continue;
    const filename = join(dir, file);
    // `cache`: without it every include() inside a page is read and compiled again on each render.
    templates.set(file.slice(0, -4), ejs.compile(readFileSync(filename, 'utf8'), { filename, async: false, cache: true }) as Template);
  }
  const layout = templates.get('layout');
  if (!layout) throw new Error(`views: ${dir}/layout.ejs is missing`);
  return {
    render(name, data) {
      const page = templates.get(name);
      if (!page) throw new Error(`views: no template "${name}"`);
      const body = page(data);
      return layout({ ...data, body });
    },
  };
}
