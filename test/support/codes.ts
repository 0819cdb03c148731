import type { App } from '../../src/app.ts';

/**
 * Captures every one-time code the app issues, by flow id, for tests whose subject is not delivery
 * (they read the code here instead of from a mailbox).
 */
export function captureCodes(app: App): Map<string, string> {
  const byFlow = new Map<string, string>();
  const codes = app.sspr.codes;
  const issue = codes.issue;
  codes.issue = async (input, t) => {
    const out = await issue(input, t);
    byFlow.set(input.flowId, out.code);
    return out;
  };
  return byFlow;
}
