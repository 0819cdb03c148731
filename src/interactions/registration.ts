import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { SsprDeps } from '../sspr/context.ts';
import type { PageKit } from './kit.ts';

/** STUB — registration pages under /interaction/:uid/register and /account/security. */
export function registrationRoutes(_deps: { provider: Provider; kit: PageKit; sspr: SsprDeps }): Router {
  return new Router();
}
