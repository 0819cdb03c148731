/**
 * Cookie names with the browser-enforced prefixes when the issuer is https. A `__Host-` cookie must
 * be Secure, have Path=/ and no Domain, so neither a sibling subdomain nor a page on plain http can
 * set or overwrite it; a `__Secure-` cookie must be Secure. The session cookie (path /) takes
 * `__Host-`; the interaction and reset-flow cookies are scoped to their paths and take `__Secure-`.
 * A plain-http issuer (development) keeps unprefixed names: browsers refuse prefixed cookies that
 * are not Secure.
 */
export interface CookieNames {
  session: string;
  interaction: string;
  resume: string;
  resetFlow: string;
  /** An error carried from a POST to the GET it redirects to (src/interactions/flash.ts). */
  flash: string;
  /** "Remember this browser" after a second factor (src/provider/mfa-remember.ts): path /, long-lived. */
  mfaRemember: string;
}

const byIssuer = new Map<string, CookieNames>();

/** The names for this issuer; worked out once per issuer (pages ask on every request). */
export function cookieNamesFor(issuer: string): CookieNames {
  let names = byIssuer.get(issuer);
  if (!names) byIssuer.set(issuer, (names = Object.freeze(namesFor(issuer))));
  return names;
}

function namesFor(issuer: string): CookieNames {
  if (new URL(issuer).protocol !== 'https:') {
    return { session: '_session', interaction: '_interaction', resume: '_interaction_resume', resetFlow: 'oidc_sspr_reset', flash: 'oidc_sspr_flash', mfaRemember: 'oidc_sspr_mfa_remember' };
  }
  return {
    session: '__Host-oidc_sspr_session',
    interaction: '__Secure-oidc_sspr_interaction',
    resume: '__Secure-oidc_sspr_interaction_resume',
    resetFlow: '__Secure-oidc_sspr_reset',
    flash: '__Secure-oidc_sspr_flash',
    mfaRemember: '__Host-oidc_sspr_mfa_remember',
  };
}
