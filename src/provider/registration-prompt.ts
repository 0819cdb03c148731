import { interactionPolicy } from 'oidc-provider';
import type { SsprDeps } from '../sspr/context.ts';

/** STUB — the `register` prompt: after login, before consent, when registration is due. */
export function registrationPrompt(_sspr: SsprDeps): interactionPolicy.Prompt {
  const { Prompt, Check } = interactionPolicy;
  return new Prompt({ name: 'register', requestable: false }, new Check('missing_recovery_methods', 'recovery methods must be registered', () => Check.NO_NEED_TO_PROMPT));
}
