import assert from 'node:assert/strict';
import { renderMessage, TEMPLATES, type Template, type TemplateParams } from '../../../src/delivery/messages.ts';
import type { Channel } from '../../../src/delivery/transports.ts';
import { createTranslator, LANGUAGES } from '../../../src/i18n/index.ts';
import en from '../../../src/i18n/locales/en/mail.ts';
import nl from '../../../src/i18n/locales/nl/mail.ts';
import { CODE_RUN } from './helpers.ts';

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') return [path];
    assert.equal(typeof v, 'object', `${path} is neither text nor a group`);
    return keys(v as object, path);
  }).sort();
}

function params(template: Template, code: string): TemplateParams[Template] {
  const base = { name: 'Alice de Vries', helpdesk: 'https://help.example.org', login: 'alice', time: new Date('2026-05-04T14:03:09Z') };
  if (template.startsWith('code.')) return { name: 'Alice', code, minutes: 10 };
  if (template === 'notice.method_added' || template === 'notice.method_removed') return { ...base, method: 'sms' };
  return base;
}

describe('delivery messages', () => {
  const translator = createTranslator();

  it('the en and nl mail catalogs have exactly the same keys', () => {
    const enKeys = keys(en);
    assert.ok(enKeys.length > 20);
    assert.deepEqual(keys(nl), enKeys);
  });

  it('every template has a subject, a text and an sms in both languages', () => {
    for (const lang of LANGUAGES) {
      for (const template of TEMPLATES) {
        for (const part of ['subject', 'text', 'sms']) {
          assert.ok(translator.has(`mail:${template}.${part}`, lang), `${lang} ${template}.${part}`);
        }
      }
    }
  });

  for (const lang of LANGUAGES) {
    for (const channel of ['email', 'sms'] as Channel[]) {
      for (const template of TEMPLATES) {
        it(`${lang} ${channel} ${template}: ${template.startsWith('code.') ? 'one run of 6-8 digits, the code' : 'no run of 6-8 digits'}`, () => {
          for (const code of ['000123', '4821907', '99887766']) {
            const m = renderMessage(translator, lang, template, params(template, code), channel);
            const all = `${m.subject ?? ''}\n${m.text}`;
            assert.doesNotMatch(all, /\{\{|\}\}|mail:|undefined|null/, all);
            assert.doesNotMatch(all, /\d{9,}/);
            const runs = all.match(CODE_RUN) ?? [];
            if (template.startsWith('code.')) assert.deepEqual(runs, [code], all);
            else assert.deepEqual(runs, [], all);
            if (channel === 'sms') {
              assert.equal(m.subject, undefined);
              assert.ok(m.text.length <= 160, `${m.text.length} chars: ${m.text}`);
              assert.ok(!m.text.includes('\n'));
            } else {
              assert.ok(m.subject && m.subject.length > 5);
              assert.ok(m.text.includes('oidc-sspr'));
            }
          }
        });
      }
    }
  }

  it('writes the time with separators, in the language of the message', () => {
    const p = params('notice.password_changed', '') as TemplateParams['notice.password_changed'];
    assert.match(renderMessage(translator, 'en', 'notice.password_changed', p, 'email', 'UTC').text, /4 May 2026 at 14:03 UTC/);
    assert.match(renderMessage(translator, 'nl', 'notice.password_changed', p, 'email', 'UTC').text, /4 mei 2026 om 14:03 UTC/);
  });

  it('writes the time in the configured time zone, naming the zone', () => {
    const p = params('notice.password_changed', '') as TemplateParams['notice.password_changed'];
    assert.match(renderMessage(translator, 'nl', 'notice.password_changed', p, 'email', 'Europe/Amsterdam').text, /4 mei 2026 om 16:03 CEST/);
    assert.match(renderMessage(translator, 'en', 'notice.password_changed', p, 'email', 'America/New_York').text, /4 May 2026 at 10:03 (EDT|GMT-4)/);
  });

  it('without a configured zone, uses the server\'s own', () => {
    const p = params('notice.password_changed', '') as TemplateParams['notice.password_changed'];
    const server = Intl.DateTimeFormat().resolvedOptions().timeZone;
    assert.equal(renderMessage(translator, 'en', 'notice.password_changed', p).text, renderMessage(translator, 'en', 'notice.password_changed', p, 'email', server).text);
  });

  it('names the method in the language of the message', () => {
    const p = { login: 'alice', time: new Date(), method: 'totp' } as const;
    assert.match(renderMessage(translator, 'en', 'notice.method_added', p).text, /\(authenticator app\)/);
    assert.match(renderMessage(translator, 'nl', 'notice.method_removed', p).text, /\(authenticator-app\)/);
  });

  it('greets by name, or without one', () => {
    const p = { code: '123456', minutes: 1 };
    assert.match(renderMessage(translator, 'nl', 'code.reset', { ...p, name: 'Jan' }).text, /^Hallo Jan,\n/);
    const anonymous = renderMessage(translator, 'en', 'code.reset', p).text;
    assert.match(anonymous, /^Hello,\n/);
    assert.match(anonymous, /expires in 1 minute\./);
  });

  it('speaks Dutch the way Microsoft 365 does', () => {
    const reset = renderMessage(translator, 'nl', 'code.reset', { code: '123456', minutes: 10 });
    assert.match(reset.subject ?? '', /verificatiecode/);
    assert.match(reset.subject ?? '', /wachtwoord opnieuw in te stellen/);
    assert.match(reset.text, /selfservice voor wachtwoordherstel/);
    assert.match(reset.text, /De code verloopt over 10 minuten\./);
  });

  it('names the helpdesk contact in notices when given', () => {
    const p = { login: 'alice', time: new Date(), helpdesk: 'servicedesk@example.org' };
    assert.match(renderMessage(translator, 'en', 'notice.password_changed', p).text, /helpdesk straight away: servicedesk@example\.org/);
  });

  it('refuses a code that is not one run of 6 to 8 digits', () => {
    for (const code of ['12345', '123456789', '123 456', 'abcdef', '']) {
      assert.throws(() => renderMessage(translator, 'en', 'code.registration', { code, minutes: 10 }), /6 to 8 digits/);
    }
  });
});
