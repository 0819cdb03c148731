import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { PageKit } from './kit.ts';
import { language } from './kit.ts';
import { interactionExpired } from './errors.ts';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * Loads the interaction named by the URL from its cookie; a missing or expired one becomes a
 * friendly "start again" page instead of the provider's error. Sets the page language from the
 * request's ui_locales.
 */
export function loadInteraction(provider: Provider, kit: PageKit) {
  return async function loadInteractionMiddleware(ctx: Context, next: Next): Promise<void> {
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      throw interactionExpired((err as Error).message);
    }
    if (details.uid !== ctx.params.uid) throw interactionExpired('uid mismatch');
    ctx.state.interaction = details;
    // One correlation id for every prompt of one authorization request (sign-in, registration,
    // consent): each prompt is a new interaction, so the first one's id rides along in the result.
    const carried = (details.lastSubmission as Record<string, unknown> | undefined)?.correlation_id;
    ctx.state.correlationId ??= typeof carried === 'string' && carried ? carried : details.uid;
    language(ctx, kit, details.params.ui_locales);
    await next();
  };
}

export function interactionOf(ctx: Context): InteractionDetails {
  return ctx.state.interaction as InteractionDetails;
}

/** Finishes this prompt and sends the browser back to the provider (303, like interactionFinished). */
export async function finishPrompt(provider: Provider, ctx: Context, result: Record<string, unknown>, merge = true): Promise<void> {
  const correlationId = ctx.state.correlationId as string | undefined;
  const carried = correlationId ? { ...result, correlation_id: correlationId } : result;
  // What provider.interactionResult does, on the interaction this request already loaded and checked
  // (loadInteraction): it would load it again, with a second cookie check and a database read.
  const interaction = ctx.state.interaction as (InteractionDetails & { result?: unknown }) | undefined;
  let returnTo: string;
  if (interaction) {
    interaction.result = merge && !('error' in carried) ? { ...interaction.lastSubmission, ...carried } : carried;
    await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    returnTo = interaction.returnTo;
  } else {
    returnTo = await provider.interactionResult(ctx.req, ctx.res, carried, { mergeWithLastSubmission: merge });
  }
  ctx.status = 303;
  ctx.redirect(returnTo);
}
