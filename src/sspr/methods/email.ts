import { MethodInvalidTarget } from '../errors.ts';
import type { TargetMethod } from './types.ts';
import { maskEmail } from './mask.ts';
import { sendCodeVia, type CodeChannelDeps } from './send.ts';

const MAX = 320;
// Deliberately loose (RFC 5322 allows far more than mail servers accept), but strict enough to refuse
// spaces, several @, a missing domain dot and the characters that break headers.
const LOCAL = /^[^\s@"(),:;<>[\\\]]{1,64}$/;
const LABEL = /^(?!-)[a-z0-9\u00a1-\uffff-]{1,63}(?<!-)$/;

export function normaliseEmail(input: string): string {
  const value = input.normalize('NFC').trim().toLowerCase();
  if (!value || value.length > MAX) throw new MethodInvalidTarget({ detail: 'email: empty or too long' });
  const at = value.lastIndexOf('@');
  if (at <= 0 || value.indexOf('@') !== at) throw new MethodInvalidTarget({ detail: 'email: not one @' });
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  const labels = domain.split('.');
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw new MethodInvalidTarget({ detail: 'email: bad local part' });
  }
  if (domain.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || /^\d+$/.test(labels[labels.length - 1])) {
    throw new MethodInvalidTarget({ detail: 'email: bad domain' });
  }
  return value;
}

/** Email codes: the code goes to the address the user typed. */
export function createEmailMethod(deps: CodeChannelDeps): TargetMethod {
  return {
    id: 'email',
    kind: 'target',
    channel: 'email',
    registrable: true,
    provesAll: false,
    // RFC 8176 has no value for a mailed code; it is a one-time password.
    amr: ['otp'],
    // The code's own length (codes.ts issues 6 to 8 digits, per configuration).
    proofInput: { digits: true, maxLength: deps.codes.length },
    sendLimit: 'email_sends',
    profileField: 'email',
    describe: (stored) => ({ masked: stored.target === null ? null : maskEmail(stored.target) }),
    normaliseTarget: normaliseEmail,
    mask: maskEmail,
    sendCode: (input, t) => sendCodeVia(deps, 'email', input, t),
    async verifyCode({ flowId, code }, t) {
      const r = await deps.codes.check({ flowId, channel: 'email', code }, t);
      return { accountId: r.accountId, target: r.target };
    },
  };
}
