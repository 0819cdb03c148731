import type { Language, Translator } from '../i18n/index.ts';
import type { Channel } from './transports.ts';

/** Every message oidc-sspr sends; the name is its key under the `mail` catalog. */
export type Template =
  | 'code.registration'
  | 'code.reset'
  | 'code.sign_in'
  | 'notice.method_added'
  | 'notice.method_removed'
  | 'notice.password_changed'
  | 'notice.admin_password_reset'
  | 'notice.methods_reset';

export const TEMPLATES: readonly Template[] = [
  'code.registration',
  'code.reset',
  'code.sign_in',
  'notice.method_added',
  'notice.method_removed',
  'notice.password_changed',
  'notice.admin_password_reset',
  'notice.methods_reset',
];

export type { MethodType } from '../config/schema.ts';
import type { MethodType } from '../config/schema.ts';

interface CommonParams {
  /** Recipient's display name for the greeting; left out: a greeting without a name. */
  name?: string | null;
  /** Helpdesk URL or address named in "if this was not you" (notices only). */
  helpdesk?: string | null;
}
interface CodeParams extends CommonParams {
  /** The one-time code: 6 to 8 digits. */
  code: string;
  /** Minutes until the code expires. */
  minutes: number;
}
interface NoticeParams extends CommonParams {
  /** Login name of the account the notice is about (never an address or number). */
  login: string;
  /** When it happened; written as a date with separators, never a run of digits. */
  time: Date;
}
interface MethodNoticeParams extends NoticeParams {
  method: MethodType;
}

export interface TemplateParams {
  'code.registration': CodeParams;
  'code.reset': CodeParams;
  'code.sign_in': CodeParams;
  'notice.method_added': MethodNoticeParams;
  'notice.method_removed': MethodNoticeParams;
  'notice.password_changed': NoticeParams;
  'notice.admin_password_reset': NoticeParams;
  'notice.methods_reset': NoticeParams;
}

export interface RenderedMessage {
  /** Email only. */
  subject?: string;
  text: string;
}

const CODE = /^\d{6,8}$/;
const LOCALES: Record<Language, string> = { en: 'en-GB', nl: 'nl-NL' };

/**
 * "4 May 2026 at 16:03 CEST" / "4 mei 2026 om 16:03 CEST" in the configured `timezone` (empty or left
 * out: the server's own zone), with the zone named so a reader elsewhere can convert it. Separators
 * everywhere, so never a code-like run of digits.
 */
export function formatTime(time: Date, lang: Language, timeZone?: string): string {
  const f = new Intl.DateTimeFormat(LOCALES[lang], {
    day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    ...(timeZone ? { timeZone } : {}),
  });
  return f.format(time);
}

/**
 * Renders one message in one language. Email gets a subject and a text with greeting, footer and
 * signature; SMS gets one short text. Throws on a code that is not 6 to 8 digits, so a caller's bug
 * cannot send a message that breaks the "one run of digits" rule.
 */
export function renderMessage<K extends Template>(
  translator: Translator,
  lang: Language,
  template: K,
  params: TemplateParams[K],
  channel: Channel = 'email',
  timeZone?: string,
): RenderedMessage {
  const t = translator.forLanguage(lang);
  const key = (part: string) => `mail:${template}.${part}`;
  const isCode = template.startsWith('code.');
  const values: Record<string, unknown> = { ...params };
  if (isCode) {
    const { code, minutes } = params as CodeParams;
    if (!CODE.test(code)) throw new Error(`renderMessage(${template}): the code must be 6 to 8 digits`);
    values.expiry = t('mail:common.expires', { count: minutes });
  } else {
    const p = params as NoticeParams;
    values.time = formatTime(p.time, lang, timeZone);
    if ('method' in p) values.method = t(`mail:method.${(p as MethodNoticeParams).method}`);
  }

  if (channel === 'sms') return { text: t(key('sms'), values) };

  const name = params.name?.trim();
  const lines = [
    name ? t('mail:common.greeting', { name }) : t('mail:common.greeting_anonymous'),
    '',
    t(key('text'), values),
    '',
  ];
  if (isCode) lines.push(t('mail:common.never_share'));
  else if (template !== 'notice.admin_password_reset') {
    const contact = params.helpdesk?.trim();
    lines.push(contact ? t('mail:common.not_you_contact', { contact }) : t('mail:common.not_you'));
  }
  lines.push('', t('mail:common.automatic'), '', t('mail:common.signature'));
  return { subject: t(key('subject'), values), text: `${lines.join('\n')}\n` };
}
