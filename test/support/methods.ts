import type { App } from '../../src/app.ts';
import type { HeldSecretMethod, MethodRegistry, TargetMethod, TotpMethod } from '../../src/sspr/methods/index.ts';

/** The registry's methods by name, narrowed to their kinds: tests may name methods, flows never do. */
export function typedMethods(registry: MethodRegistry) {
  const target = (id: string) => {
    const m = registry.get(id);
    if (m?.kind !== 'target') throw new Error(`${id} is no target method`);
    return m as TargetMethod;
  };
  const held = (id: string) => {
    const m = registry.get(id);
    if (m?.kind !== 'held_secret') throw new Error(`${id} is no held-secret method`);
    return m as HeldSecretMethod;
  };
  return { email: target('email'), sms: target('sms'), totp: held('totp') as TotpMethod, recoveryCodes: held('recovery_codes') };
}

/** A new authenticator secret: the clear secret (to compute codes) and the sealed one (to store). */
export async function totpSecret(app: App, label = 'test'): Promise<{ secret: string; secretEnc: string }> {
  const e = await typedMethods(app.sspr.methods).totp.enrol(label);
  return { secret: String(e.view.data.secret), secretEnc: e.pending };
}
