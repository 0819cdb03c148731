import i18next, { type i18n as I18nInstance } from 'i18next';
import { catalogs } from './locales/index.ts';

export const LANGUAGES = ['en', 'nl'] as const;
export type Language = (typeof LANGUAGES)[number];

export function isLanguage(v: unknown): v is Language {
  return typeof v === 'string' && (LANGUAGES as readonly string[]).includes(v);
}

export type Translate = (key: string, params?: Record<string, unknown>) => string;

export interface Translator {
  /** A `t` bound to one language; unknown keys come back as the key, so a test can spot them. */
  forLanguage(lang: Language): Translate;
  has(key: string, lang: Language): boolean;
}

/** One i18next instance for the process; catalogs are plain objects, one file per area and language. */
export function createTranslator(): Translator {
  const instance: I18nInstance = i18next.createInstance();
  void instance.init({
    initAsync: false,
    resources: catalogs,
    fallbackLng: false,
    defaultNS: 'pages',
    ns: Object.keys(catalogs.en),
    interpolation: { escapeValue: false }, // ejs escapes on output; mails are plain text
    returnNull: false,
    // A missing key renders as `ns:key` (not just `key`), so a page or mail with one is easy to spot.
    appendNamespaceToMissingKey: true,
  });
  const fixedStrings = new Map<string, Map<string, string>>();
  return {
    forLanguage(lang) {
      const t = instance.getFixedT(lang);
      // A page asks for the same fixed strings on every request: look each up once per language.
      let fixed = fixedStrings.get(lang);
      if (!fixed) fixedStrings.set(lang, (fixed = new Map()));
      const memo = fixed;
      return (key, params) => {
        if (params) {
          // `{ defaultValue }` alone (a page's optional text) has nothing to interpolate: memoised too.
          const only = Object.keys(params);
          if (only.length !== 1 || only[0] !== 'defaultValue' || typeof params.defaultValue !== 'string') return t(key, params) as string;
          const withDefault = `${key}\u0000${params.defaultValue}`;
          let text = memo.get(withDefault);
          if (text === undefined) memo.set(withDefault, (text = t(key, params) as string));
          return text;
        }
        let text = memo.get(key);
        if (text === undefined) memo.set(key, (text = t(key, {}) as string));
        return text;
      };
    },
    has: (key, lang) => instance.exists(key, { lng: lang }),
  };
}

const acceptLanguageAnswers = new Map<string, Language | null>();

/** Picks the best supported language from an Accept-Language header. */
export function fromAcceptLanguage(header: string | undefined): Language | null {
  if (!header) return null;
  // A browser sends the same header with every page: its answer is kept (bounded; cleared when full).
  const known = acceptLanguageAnswers.get(header);
  if (known !== undefined) return known;
  const answer = rankAcceptLanguage(header);
  if (header.length <= 256) {
    if (acceptLanguageAnswers.size >= 256) acceptLanguageAnswers.clear();
    acceptLanguageAnswers.set(header, answer);
  }
  return answer;
}

function rankAcceptLanguage(header: string): Language | null {
  const ranked = header
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag.toLowerCase(), q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    const base = tag.split('-')[0];
    if (isLanguage(base)) return base;
  }
  return null;
}
