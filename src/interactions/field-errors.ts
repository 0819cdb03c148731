import type { PageMessage } from './views.ts';

/**
 * Errors that belong to one field of a form: the page draws them next to that field (an element with
 * `role="alert"` and an id), and the field points at it (`aria-invalid="true"`,
 * `aria-describedby`), so a screen reader reads the error with the field rather than only in a banner.
 * The field travels with the message through the flash cookie (flash.ts keeps unknown keys as they are).
 */
export type FieldMessage = PageMessage & { field?: string };

export interface FieldErrors {
  /** Messages for the banner: those of no field, or of a field the page does not show. */
  banner: PageMessage[];
  /** `fieldError(name)`: the field's messages, or an empty list. */
  of(name: string): PageMessage[];
  /** Attributes for the field `name`: aria-invalid and aria-describedby (with its hint, when given). */
  attrs(name: string, hintId?: string): string;
  /** The id of the element that holds a field's error. */
  id(name: string): string;
}

export const attachField = (messages: PageMessage[], field: string | undefined): FieldMessage[] =>
  field ? messages.map((m) => ({ ...m, field })) : messages;

/** Splits a page's messages into the banner's and each field's; `fields` are the fields the page draws. */
export function fieldErrors(messages: FieldMessage[] | undefined, fields: readonly string[]): FieldErrors {
  const byField = new Map<string, PageMessage[]>();
  const banner: PageMessage[] = [];
  for (const m of messages ?? []) {
    if (m.type === 'error' && m.field && fields.includes(m.field)) {
      const { field, ...message } = m;
      byField.set(field, [...(byField.get(field) ?? []), message]);
    } else {
      const { field: _ignored, ...message } = m;
      banner.push(message);
    }
  }
  const id = (name: string) => `${name.replace(/[^a-z0-9_-]/gi, '')}-error`;
  return {
    banner,
    of: (name) => byField.get(name) ?? [],
    id,
    attrs(name, hintId) {
      const invalid = byField.has(name);
      const described = [invalid ? id(name) : null, hintId ?? null].filter(Boolean).join(' ');
      return `${invalid ? ' aria-invalid="true"' : ''}${described ? ` aria-describedby="${described}"` : ''}`;
    },
  };
}
