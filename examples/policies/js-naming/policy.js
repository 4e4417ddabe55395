// js-naming: a preflight policy in JavaScript.
//
//   JS001  The environment's display name says what kind of environment it is:
//          a Sandbox is not named "(Production)", a Production is.
//   JS002  Power Pages site names start with the organization's prefix (when the
//          `sitePrefix` setting gives one).
//
// `npm run build` turns this file into a WebAssembly component that targets the
// `policy` world of wit/policy.wit (a copy of preflight's wit/policy.wit). How the
// WIT looks from JavaScript (componentize-js):
//   - kebab-case becomes camelCase: `validate-settings` -> validateSettings,
//     `rule-id` -> ruleId, `to-json` -> toJson;
//   - enums are strings ('warning'), an option is a value or `undefined`;
//   - each `document` is an object with the methods name(), get(pointer),
//     keys(pointer) and toJson(pointer); get() returns the `value` variant as
//     { tag, val }: { tag: 'text', val: 'Contoso' }, { tag: 'array', val: 3 }...;
//   - `result<T, E>`: return T for ok, throw E for err.

import { log } from 'preflight:policy/log@1.0.0';

// Keep in step with package.json.
const VERSION = '0.1.0';

const STAGE_NAME = {
  id: 'JS001',
  title: "Environment display name matches the environment's type",
  defaultSeverity: 'warning',
  help:
    "The display name of an environment ends with the stage suffix of its type: by default " +
    '`(Production)` for a Production environment, `(UAT)` or `(Test)` for a Sandbox, ' +
    '`(Dev)` for a Developer environment and `(Trial)` for a trial. A Sandbox named like ' +
    'a Production environment (or the other way round) is how deployments land in the ' +
    'wrong place. Rename the environment in the Power Platform admin center (Environments ' +
    '> the environment > Edit), or set the suffixes your organization uses with the ' +
    '`stages` setting.',
  helpUrl: 'https://learn.microsoft.com/power-platform/admin/edit-properties-environment',
};

const SITE_PREFIX = {
  id: 'JS002',
  title: "Power Pages site names start with the organization's prefix",
  defaultSeverity: 'info',
  help:
    'When the `sitePrefix` setting is given, every Power Pages site of the environment has ' +
    'a name that starts with it (for example `Contoso `), so that sites of different ' +
    'organizations or projects sharing a tenant are told apart. Rename the site in Power ' +
    'Pages (Set up > Site details).',
  helpUrl: 'https://learn.microsoft.com/power-pages/admin/admin-overview',
};

// Environment types (`/environment/type` in the snapshot) and the suffixes their
// display names end with, unless the `stages` setting says otherwise.
const DEFAULT_STAGES = {
  Production: ['(Production)'],
  Sandbox: ['(UAT)', '(Test)'],
  Developer: ['(Dev)'],
  Trial: ['(Trial)'],
  Default: [],
};

const SUFFIXES = {
  type: 'array',
  items: { type: 'string', minLength: 1 },
  uniqueItems: true,
};

// The settings' JSON Schema: preflight checks settings against it before any call.
const SETTINGS_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  properties: {
    stages: {
      description:
        'Per environment type, the suffixes its display name may end with; an empty list ' +
        'turns the check off for that type. Types not given keep their defaults.',
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(Object.keys(DEFAULT_STAGES).map((type) => [type, SUFFIXES])),
    },
    sitePrefix: {
      description: 'Every Power Pages site name starts with this (JS002); not checked when absent.',
      type: 'string',
      minLength: 1,
    },
  },
};

export function info() {
  return {
    name: 'js-naming',
    version: VERSION,
    description:
      'Environment display names match their type, and Power Pages site names carry the ' +
      "organization's prefix.",
    rules: [STAGE_NAME, SITE_PREFIX],
    documents: [{ name: 'environment', optional: false }],
    settingsSchema: JSON.stringify(SETTINGS_SCHEMA),
  };
}

// What the schema cannot say: one suffix must not stand for two environment types.
// Throwing a string rejects the settings with that message.
export function validateSettings(text) {
  readSettings(text);
}

export function evaluate(documents, settingsText) {
  const settings = readSettings(settingsText);
  const env = documents.find((doc) => doc.name() === 'environment');
  const findings = [];
  checkStageName(env, settings, findings);
  if (settings.sitePrefix !== undefined) {
    checkSitePrefixes(env, settings.sitePrefix, findings);
  }
  log('debug', `${findings.length} findings`);
  return findings;
}

function checkStageName(env, settings, findings) {
  const type = text(env, '/environment/type');
  if (type === undefined) {
    // The host checks the snapshot's schema first, so this does not happen; a policy
    // says so rather than guessing (`evaluation-error.invalid-document`).
    throw {
      tag: 'invalid-document',
      val: { document: 'environment', pointer: '/environment/type', message: 'a string' },
    };
  }
  const suffixes = settings.stages[type] ?? [];
  if (suffixes.length === 0) {
    return;
  }
  const expected = `a ${type} environment's name ends with ${list(suffixes)}`;
  const name = text(env, '/environment/displayName');
  if (name === undefined) {
    findings.push(
      finding(STAGE_NAME, '/environment', `the environment has no display name; ${expected}`),
    );
    return;
  }
  if (suffixes.some((suffix) => name.endsWith(suffix))) {
    return;
  }
  const other = Object.keys(settings.stages).find(
    (otherType) =>
      otherType !== type && settings.stages[otherType].some((suffix) => name.endsWith(suffix)),
  );
  const message =
    other === undefined
      ? `the ${type} environment \`${name}\` does not end with ${list(suffixes)}`
      : `the ${type} environment \`${name}\` is named like a ${other} environment; ${expected}`;
  findings.push(finding(STAGE_NAME, '/environment/displayName', message));
}

function checkSitePrefixes(env, prefix, findings) {
  // One call copies the whole array out of the host; fine for a short list.
  const sites = JSON.parse(env.toJson('/powerPagesSites') ?? '[]');
  sites.forEach((site, index) => {
    if (!site.name.startsWith(prefix)) {
      findings.push(
        finding(
          SITE_PREFIX,
          `/powerPagesSites/${index}/name`,
          `the Power Pages site \`${site.name}\` does not start with \`${prefix}\``,
        ),
      );
    }
  });
}

// The string at `pointer`, or undefined. `get` returns the `value` variant.
function text(doc, pointer) {
  const value = doc.get(pointer);
  return value !== undefined && value.tag === 'text' ? value.val : undefined;
}

function finding(rule, pointer, message) {
  return {
    ruleId: rule.id,
    severity: rule.defaultSeverity,
    message,
    document: 'environment',
    pointer,
    remediation: rule === STAGE_NAME ? 'rename the environment, or set `stages`' : undefined,
  };
}

function list(suffixes) {
  const quoted = suffixes.map((suffix) => `\`${suffix}\``);
  return quoted.length === 1
    ? quoted[0]
    : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

function readSettings(settingsText) {
  const given = JSON.parse(settingsText || '{}');
  const stages = { ...DEFAULT_STAGES, ...(given.stages ?? {}) };
  const owner = new Map();
  for (const [type, suffixes] of Object.entries(stages)) {
    for (const suffix of suffixes) {
      if (owner.has(suffix)) {
        throw `the suffix \`${suffix}\` stands for both ${owner.get(suffix)} and ${type} environments; give it to one of them in \`stages\``;
      }
      owner.set(suffix, type);
    }
  }
  return { stages, sitePrefix: given.sitePrefix };
}
