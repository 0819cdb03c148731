import { z } from 'zod';

/**
 * The configuration file's shape. Every key has its default and a one-line description beside it;
 * `.strict()` everywhere so a typo is an error instead of a silently ignored key.
 * Names follow ../shared/INTERFACE.md; change both together.
 */

const methodType = z.enum(['email', 'sms', 'totp', 'recovery_codes', 'passkey']);
export type MethodType = z.infer<typeof methodType>;
export const METHOD_TYPES: readonly MethodType[] = methodType.options;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const throttleSchema = z
  .object({
    failed_verifications: z
      .object({
        max: z.number().int().min(1).max(1000).default(5),
        window_hours: z.number().int().min(1).max(24 * 30).default(24),
        block_hours: z.number().int().min(0).max(24 * 30).default(24),
      })
      .strict()
      .prefault({})
      .describe('wrong reset codes per account (or unknown identifier) and per identifier + IP before its reset is blocked; per IP alone 20 times as many'),
    email_sends: z
      .object({
        max: z.number().int().min(1).max(1000).default(10),
        window_minutes: z.number().int().min(1).max(24 * 60).default(10),
        block_hours: z.number().int().min(0).max(24 * 30).default(24),
      })
      .strict()
      .prefault({})
      .describe('email codes sent per identifier, per identifier + IP, per address (per IP alone: 20 times as many)'),
    sms_sends: z
      .object({
        max: z.number().int().min(1).max(1000).default(5),
        window_minutes: z.number().int().min(1).max(24 * 60).default(60),
        block_hours: z.number().int().min(0).max(24 * 30).default(24),
      })
      .strict()
      .prefault({})
      .describe('SMS codes sent per identifier, per identifier + IP, per number (per IP alone: 20 times as many)'),
    flows_started: z
      .object({
        max: z.number().int().min(1).max(10000).default(20),
        window_minutes: z.number().int().min(1).max(24 * 60).default(60),
        block_hours: z.number().int().min(0).max(24 * 30).default(0),
      })
      .strict()
      .prefault({})
      .describe('self-service resets started per identifier / IP'),
    sign_in_failures: z
      .object({
        delay_after: z.number().int().min(1).max(100).default(5),
        block_after: z.number().int().min(2).max(99).default(50),
        block_minutes: z.number().int().min(1).max(24 * 60).default(15),
      })
      .strict()
      .prefault({})
      .describe('password guesses (sign-in, re-authentication, password change) per account: slow down after N failures, block after M, each further block twice as long'),
  })
  .strict();

export const ssprSchema = z
  .object({
    enabled_for: z.enum(['none', 'selected', 'all']).default('all').describe('who self-service password reset applies to'),
    groups: z.array(z.string().min(1)).default([]).describe('group names; required when enabled_for is selected'),
    methods: z
      .array(methodType)
      .min(1, 'list at least one method')
      .default(['email', 'sms', 'totp'])
      .refine((m) => new Set(m).size === m.length, 'a method is listed twice')
      .describe('methods users may register'),
    methods_required: z
      .union([z.literal(1), z.literal(2)], { error: 'must be 1 or 2' })
      .default(1)
      .describe('verified methods a reset needs (administrators: always 2)'),
    temporary_access_pass: z
      .object({
        enabled: z.boolean().default(true).describe('admins may issue passes (CLI `user tap`) and the reset offers them'),
        max_minutes: z.number().int().min(10).max(1440).default(1440).describe('longest lifetime an admin may give a pass (10..1440)'),
      })
      .strict()
      .prefault({})
      .describe('Temporary Access Pass: a helpdesk-issued pass for a user who lost every method'),
    require_registration_at_sign_in: z.boolean().default(true),
    allow_skip: z.boolean().default(false).describe('users (never admins) may choose "Not now"'),
    reconfirm_after_days: z.number().int().min(0).max(730).default(180).describe('0 = never'),
    code_ttl_minutes: z.number().int().min(1).max(10).default(10),
    flow_ttl_minutes: z.number().int().min(1).max(60).default(15),
    notify_users_on_reset: z.boolean().default(true),
    notify_admins_on_admin_reset: z.boolean().default(true),
    helpdesk: z
      .object({ url: z.string().default(''), email: z.string().default('') })
      .strict()
      .prefault({}),
    throttle: throttleSchema.prefault({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.enabled_for === 'selected' && s.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'list at least one group when enabled_for is selected' });
    }
    if (s.methods_required > s.methods.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['methods_required'],
        message: `needs ${s.methods_required} methods but methods lists only ${s.methods.length}`,
      });
    }
  });
export type SsprPolicyConfig = z.infer<typeof ssprSchema>;

/** Second-factor method ids `mfa.methods` may list (passkeys come with their own method file). */
export const MFA_METHOD_IDS = ['totp', 'passkey', 'sms', 'email', 'recovery_codes'] as const;
export type MfaMethodId = (typeof MFA_METHOD_IDS)[number];

export const mfaSchema = z
  .object({
    required_for: z
      .enum(['none', 'admins', 'all', 'selected'])
      .default('none')
      .describe('who must give a second factor at sign-in (administrators always, unless none)'),
    groups: z.array(z.string().min(1)).default([]).describe('group names; required when required_for is selected'),
    methods: z
      .array(z.enum(MFA_METHOD_IDS))
      .min(1, 'list at least one method')
      .default([...MFA_METHOD_IDS])
      .refine((m) => new Set(m).size === m.length, 'a method is listed twice')
      .describe('registered methods that count as a second factor'),
    remember_days: z.number().int().min(0).max(365).default(0).describe('"remember this browser" for N days; 0 = never; a reset ends it'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.required_for === 'selected' && m.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'list at least one group when required_for is selected' });
    }
  });
export type MfaConfig = z.infer<typeof mfaSchema>;

export const passwordPolicySchema = z
  .object({
    min_length: z.number().int().min(8).max(64).default(15),
    max_length: z.number().int().min(64).max(1024).default(128),
    min_strength: z.number().int().min(0).max(4).default(3).describe('zxcvbn score 0..4'),
    banned_passwords_file: z.string().default(''),
  })
  .strict()
  .refine((p) => p.max_length >= p.min_length, { path: ['max_length'], message: 'must be at least min_length' });
export type PasswordPolicyConfig = z.infer<typeof passwordPolicySchema>;

const clientSchema = z
  .object({
    client_id: z.string().min(1),
    client_secret: z.string().min(1).optional(),
    token_endpoint_auth_method: z
      .enum(['none', 'client_secret_basic', 'client_secret_post'])
      .optional(),
    redirect_uris: z.array(z.url()).min(1),
    post_logout_redirect_uris: z.array(z.url()).default([]),
    grant_types: z.array(z.enum(['authorization_code', 'refresh_token'])).default(['authorization_code', 'refresh_token']),
    response_types: z.array(z.literal('code')).default(['code']),
    first_party: z.boolean().default(false).describe('true: no consent page for this client'),
    client_name: z.string().min(1).max(100).optional().describe('what users read on the sign-in and consent pages (else the client_id)'),
    logo_uri: z.url().optional().describe('a logo shown beside the client name'),
    client_uri: z.url().optional().describe("the app's home page, linked from its name"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.token_endpoint_auth_method === 'none' && c.client_secret) {
      ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'a public client (token_endpoint_auth_method: none) has no secret' });
    }
    if (c.token_endpoint_auth_method !== 'none' && !c.client_secret) {
      ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'required unless token_endpoint_auth_method is none' });
    }
  });
export type ClientConfig = z.infer<typeof clientSchema>;

const smtpSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(587),
    secure: z.boolean().default(false),
    user: z.string().default(''),
    pass: z.string().default(''),
  })
  .strict();

export const deliverySchema = z
  .object({
    outbox_dir: z.string().default('../data/outbox'),
    email: z
      .object({
        transport: z.enum(['outbox', 'smtp']).default('outbox'),
        from: z.string().default('oidc-sspr <no-reply@example.org>'),
        smtp: smtpSchema.prefault({}),
      })
      .strict()
      .prefault({}),
    sms: z
      .object({
        transport: z.enum(['outbox', 'http']).default('outbox'),
        default_region: z.string().length(2).default('NL'),
        allowed_countries: z.array(z.string().length(2)).min(1).default(['NL', 'BE', 'DE']),
        http: z
          .object({
            url: z.url().default('http://127.0.0.1:9000/sms'),
            format: z.enum(['json', 'form']).default('json'),
            headers: z.record(z.string(), z.string()).default({}),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type DeliveryConfig = z.infer<typeof deliverySchema>;

export const configSchema = z
  .object({
    issuer: z.url().default('http://localhost:3000'),
    port: z.number().int().min(0).max(65535).default(3000),
    proxy: z.boolean().default(false),
    proxy_hops: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(1)
      .describe('with proxy: how many trusted proxies stand in front; the client is the right-most X-Forwarded-For hop none of them wrote'),
    database: z.string().min(1).default('sqlite:../data/oidc-sspr.sqlite'),
    language: z.enum(['en', 'nl']).default('en'),
    timezone: z
      .string()
      .default('')
      .refine((tz) => tz === '' || isTimeZone(tz), 'not an IANA time zone (e.g. Europe/Amsterdam)')
      .describe("IANA zone for times in messages and pages (empty: the server's)"),
    demo: z.boolean().default(true),
    secrets: z
      .object({
        cookie_keys: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
        encryption_keys: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
      })
      .strict()
      .prefault({}),
    clients: z.array(clientSchema).default([]),
    sessions: z
      .object({
        ttl_hours: z.number().int().min(1).max(24 * 30).default(24),
        interaction_minutes: z.number().int().min(5).max(24 * 60).default(60),
      })
      .strict()
      .prefault({}),
    password_hashing: z
      .object({
        memory_kib: z.number().int().min(8192).max(4 * 1024 * 1024).default(19456),
        time_cost: z.number().int().min(1).max(20).default(2),
        parallelism: z.number().int().min(1).max(16).default(1),
      })
      .strict()
      .prefault({}),
    delivery: deliverySchema.prefault({}),
    sspr: ssprSchema.prefault({}),
    mfa: mfaSchema.prefault({}),
    password_policy: passwordPolicySchema.prefault({}),
    audit: z.object({ retention_days: z.number().int().min(1).max(3650).default(90) }).strict().prefault({}),
    metrics: z.object({ token: z.string().default('') }).strict().prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    c.clients.forEach((client, i) => {
      if (client.client_id === 'oidc-sspr-account') {
        ctx.addIssue({ code: 'custom', path: ['clients', i, 'client_id'], message: '"oidc-sspr-account" is reserved for the account pages' });
      }
      if (ids.has(client.client_id)) {
        ctx.addIssue({ code: 'custom', path: ['clients', i, 'client_id'], message: `duplicate client_id "${client.client_id}"` });
      }
      ids.add(client.client_id);
    });
    for (const [i, k] of [...c.secrets.cookie_keys, ...c.secrets.encryption_keys].entries()) {
      if (k === 'change-me') ctx.addIssue({ code: 'custom', path: ['secrets', i], message: 'the placeholder "change-me" is refused' });
    }
  });

/** The file as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;
