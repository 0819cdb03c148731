import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { isLanguage, type Language } from '../i18n/index.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { clientInfo, type ClientInfo } from './client-info.ts';
import type { PageKit } from './kit.ts';
import { language } from './kit.ts';
import { interactionEnded, interactionExpired, type PageLink } from './errors.ts';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

type Ended = 'finished' | 'cancelled';

/** The "this sign-in ended" marker's name: beside the flash cookie, with the same prefix rules. */
const endedNames = new Map<string, string>();
const endedCookie = (issuer: string) => {
  let name = endedNames.get(issuer);
  if (name === undefined) endedNames.set(issuer, (name = cookieNamesFor(issuer).flash.replace(/flash$/, 'ended')));
  return name;
};

/**
 * Remembers, on the interaction's own path, that it ended and how (and for which app), MAC'd like the
 * flash. oidc-provider deletes a finished interaction, so without this a Back to its page could only
 * say "took too long" — wrong when the user simply signed in, or cancelled.
 */
function markEnded(ctx: Context, kit: PageKit, uid: string, how: Ended, clientId: string): void {
  const value = `${how}.${Buffer.from(clientId).toString('base64url')}`;
  // The header `ctx.cookies.set` would write, attribute for attribute, written directly: on every
  // sign-in, the `cookies` package's checks and its scan of the Set-Cookie headers already there
  // cost more than the rest of this. Every part is safe as it stands: base64url, a MAC, a fixed name,
  // and the uid oidc-provider made (the route matched it).
  const expires = new Date(Date.now() + kit.config.sessions.interaction_minutes * 60_000).toUTCString();
  ctx.append('Set-Cookie', `${endedCookie(kit.config.issuer)}=${value}.${kit.csrf.token(`ended|${uid}|${value}`)}; path=/interaction/${uid}; expires=${expires}; samesite=lax${ctx.secure ? '; secure' : ''}; httponly`);
}

function endedOf(ctx: Context, kit: PageKit, uid: string): { how: Ended; clientId: string } | null {
  const raw = ctx.cookies.get(endedCookie(kit.config.issuer), { signed: false });
  const [how, client, mac, ...rest] = (raw ?? '').split('.');
  if (!how || !client || rest.length > 0 || (how !== 'finished' && how !== 'cancelled')) return null;
  if (!kit.csrf.verify(`ended|${uid}|${how}.${client}`, mac)) return null;
  return { how, clientId: Buffer.from(client, 'base64url').toString('utf8') };
}

/** Back to the app: its home page (`client_uri`) when it registered one. */
export function backToClient(info: ClientInfo | null): PageLink[] {
  return info?.homeUrl ? [{ href: info.homeUrl, labelKey: 'pages:common.back_to_client', params: { client: info.name } }] : [];
}

/**
 * Loads the interaction named by the URL from its cookie; a missing or expired one becomes a
 * friendly "start again" page instead of the provider's error — or, when this browser finished or
 * cancelled it, a page that says so. Sets the page language from the request's ui_locales.
 */
export function loadInteraction(provider: Provider, kit: PageKit) {
  return async function loadInteractionMiddleware(ctx: Context, next: Next): Promise<void> {
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      const uid = String(ctx.params.uid ?? '');
      const ended = uid ? endedOf(ctx, kit, uid) : null;
      if (ended) {
        const info = await clientInfo(provider, ended.clientId);
        throw interactionEnded(ended.how, info?.name ?? null, backToClient(info));
      }
      throw interactionExpired((err as Error).message);
    }
    if (details.uid !== ctx.params.uid) throw interactionExpired('uid mismatch');
    ctx.state.interaction = details;
    ctx.state.interactionKit = kit;
    // One correlation id for every prompt of one authorization request (sign-in, registration,
    // consent): each prompt is a new interaction, so the first one's id rides along in the result.
    const carried = (details.lastSubmission as Record<string, unknown> | undefined)?.correlation_id;
    ctx.state.correlationId ??= typeof carried === 'string' && carried ? carried : details.uid;
    // The app's ui_locales decide, until the person picks the other language with the page's links:
    // that choice is kept in the interaction (and carried into its next prompts), so the following
    // pages of this sign-in stay in it instead of falling back to ui_locales.
    const picked = ctx.method === 'GET' && isLanguage(ctx.query.lang) ? ctx.query.lang : null;
    if (picked) await rememberInInteraction(details, { sspr_lang: picked });
    language(ctx, kit, picked ?? chosenLanguage(details) ?? details.params.ui_locales);
    await next();
  };
}

export function interactionOf(ctx: Context): InteractionDetails {
  return ctx.state.interaction as InteractionDetails;
}

/**
 * The login name typed on this interaction's sign-in or reset pages, kept in the interaction itself
 * (never in a URL, which proxies and logs keep): "Forgot your password?" and the sign-in page after a
 * reset start from it. It rides in `lastSubmission`, which oidc-provider stores and our results
 * already extend (correlation_id); sign-in results are not merged with it.
 */
export function rememberedLogin(interaction: InteractionDetails): string {
  const v = (interaction.lastSubmission as Record<string, unknown> | undefined)?.sspr_login;
  return typeof v === 'string' ? v.slice(0, 320) : '';
}

export async function rememberLogin(interaction: InteractionDetails, login: string): Promise<void> {
  if (login) await rememberInInteraction(interaction, { sspr_login: login.slice(0, 320) });
}

/** The language the person picked on this sign-in's pages, if any. */
function chosenLanguage(interaction: InteractionDetails): Language | null {
  const v = (interaction.lastSubmission as Record<string, unknown> | undefined)?.sspr_lang;
  return isLanguage(v) ? v : null;
}

async function rememberInInteraction(interaction: InteractionDetails, values: Record<string, string>): Promise<void> {
  const earlier = (interaction.lastSubmission ?? {}) as Record<string, unknown>;
  if (Object.entries(values).every(([k, v]) => earlier[k] === v)) return;
  interaction.lastSubmission = { ...earlier, ...values };
  await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
}

/** Finishes this prompt and sends the browser back to the provider (303, like interactionFinished). */
export async function finishPrompt(provider: Provider, ctx: Context, result: Record<string, unknown>, merge = true): Promise<void> {
  const correlationId = ctx.state.correlationId as string | undefined;
  const picked = ctx.state.interaction ? chosenLanguage(ctx.state.interaction as InteractionDetails) : null;
  // The correlation id and a picked language ride along into the next prompt (a new interaction).
  const carried = { ...result, ...(correlationId ? { correlation_id: correlationId } : {}), ...(picked && !('error' in result) ? { sspr_lang: picked } : {}) };
  // What provider.interactionResult does, on the interaction this request already loaded and checked
  // (loadInteraction): it would load it again, with a second cookie check and a database read.
  const interaction = ctx.state.interaction as (InteractionDetails & { result?: unknown }) | undefined;
  let returnTo: string;
  if (interaction) {
    const { sspr_login: _login, ...earlier } = (interaction.lastSubmission ?? {}) as Record<string, unknown>;
    interaction.result = merge && !('error' in carried) ? { ...earlier, ...carried } : carried;
    await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    returnTo = interaction.returnTo;
    const kit = ctx.state.interactionKit as PageKit | undefined;
    if (kit) markEnded(ctx, kit, interaction.uid, 'error' in carried ? 'cancelled' : 'finished', String(interaction.params.client_id ?? ''));
  } else {
    returnTo = await provider.interactionResult(ctx.req, ctx.res, carried, { mergeWithLastSubmission: merge });
  }
  seeOther(ctx, returnTo);
}

/**
 * A 303 to a URL oidc-provider built (absolute, already encoded), answered as its own
 * `interactionFinished` answers: Location and an empty body. Koa's `redirect` would parse and
 * re-encode the URL and negotiate an HTML body from the Accept header, on every sign-in.
 */
function seeOther(ctx: Context, url: string): void {
  ctx.status = 303;
  ctx.set('Location', url);
  ctx.body = '';
}
