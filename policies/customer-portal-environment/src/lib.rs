//! The target environment can host the Customer portal: Dataverse with Dynamics 365
//! apps, linked by dual-write to exactly one supported finance and operations
//! environment, of a type that can hold a production site, without a Customer portal
//! site already.

use preflight_sdk::prelude::*;
use preflight_sdk::text::same;
use preflight_sdk::text::same_ignoring_ascii_case;
use preflight_sdk::version::{compare, parse as parse_version};

const DATAVERSE: Rule = Rule {
    id: "CP006",
    title: "The environment has Dataverse with Dynamics 365 apps enabled",
    severity: Severity::Error,
    help: include_str!("../rules/CP006.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/requirements-and-prerequisites",
    ),
};

const LINKED: Rule = Rule {
    id: "CP009",
    title: "Dual-write links the environment to its one finance and operations environment",
    severity: Severity::Error,
    help: include_str!("../rules/CP009.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/requirements-and-prerequisites",
    ),
};

const SUPPORTED_PAIR: Rule = Rule {
    id: "CP010",
    title: "The linked environments meet the dual-write requirements",
    severity: Severity::Error,
    help: include_str!("../rules/CP010.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/requirements-and-prerequisites",
    ),
};

const ENVIRONMENT_TYPE: Rule = Rule {
    id: "CP011",
    title: "The environment type can host a production site",
    severity: Severity::Error,
    help: include_str!("../rules/CP011.md"),
    help_url: Some("https://learn.microsoft.com/power-pages/admin/lifecycle"),
};

const ONE_SITE: Rule = Rule {
    id: "CP012",
    title: "The environment has no Customer portal site yet",
    severity: Severity::Error,
    help: include_str!("../rules/CP012.md"),
    help_url: Some(
        "https://learn.microsoft.com/power-pages/templates/dynamics-365-apps/overview#supply-chain-management-customer-site",
    ),
};

/// The oldest finance and operations versions dual-write supports.
const MIN_VERSION: [u64; 3] = [10, 0, 9];
const MIN_PLATFORM_UPDATE: u64 = 33;

/// What to do about the tenant's Default environment (an inference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum DefaultEnvironment {
    Error,
    #[default]
    Warning,
    Allow,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    /// Template names that mark a site as a Customer portal site (inference).
    #[serde(default = "default_templates")]
    customer_portal_templates: Vec<String>,
    #[serde(default)]
    default_environment: DefaultEnvironment,
}

fn default_templates() -> Vec<String> {
    [
        "Customer Portal",
        "Supply Chain Management Customer",
        "Customer Portal (Dynamics 365)",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A URL compared loosely: no scheme, no trailing `/`, in any case.
fn same_url(a: &str, b: &str) -> bool {
    fn rest(url: &str) -> &str {
        let url = url.trim();
        let rest = ["https://", "http://"].iter().find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|head| head.eq_ignore_ascii_case(scheme))
                .map(|_| &url[scheme.len()..])
        });
        rest.unwrap_or(url).trim_end_matches('/')
    }
    let (a, b) = (rest(a), rest(b));
    if a.is_ascii() && b.is_ascii() {
        same_ignoring_ascii_case(a, b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// CP006: Dataverse with Dynamics 365 apps.
fn check_dataverse(env: &Doc<'_>) -> Option<Finding> {
    let dataverse = env.at("/environment/dataverse");
    if dataverse.bool() == Some(false) {
        return Some(
            dataverse
                .finding(
                    &DATAVERSE,
                    "the environment has no Dataverse database: dual-write and the Customer portal \
                     need one, with Dynamics 365 apps enabled",
                )
                .remediation(
                    "add a Dataverse database to the environment with \"Enable Dynamics 365 apps\" \
                     set to Yes (Power Platform admin center › Environments › Add database), or \
                     provision the site in an environment that has one",
                ),
        );
    }
    let apps = env.at("/environment/dynamics365AppsEnabled");
    (apps.bool() == Some(false)).then(|| {
        apps.finding(
            &DATAVERSE,
            "Dynamics 365 apps are not enabled in the environment: dual-write needs \"Enable \
             Dynamics 365 apps\" set to Yes, and the Customer portal is a Dynamics 365 template",
        )
        .remediation(
            "use an environment whose database was created with \"Enable Dynamics 365 apps\" set \
             to Yes (the option is chosen when the database is created), link it to finance and \
             operations, and provision the site there",
        )
    })
}

/// CP009: linked to one finance and operations environment, and dual-write points at it.
fn check_link(env: &Doc<'_>) -> Vec<Finding> {
    let fno = env.at("/financeAndOperations");
    let link = env.at("/dualWrite/linkedFinanceAndOperationsUrl");
    if !fno.exists() {
        return vec![
            env.at("/environment")
                .finding(
                    &LINKED,
                    "the environment is not linked to a finance and operations environment (the \
                     snapshot has no `financeAndOperations`): dual-write needs exactly one",
                )
                .remediation(
                    "link the finance and operations environment to this environment in Lifecycle \
                     Services (Power Platform integration; the link cannot be undone and needs at \
                     least 1 GB of database capacity), then export the snapshot again",
                ),
        ];
    }
    let fno_url = fno.get("url").as_str().unwrap_or_default();
    match link.as_str() {
        None => {
            let at = if env.at("/dualWrite").exists() {
                env.at("/dualWrite")
            } else {
                env.root()
            };
            vec![
                at.finding(
                    &LINKED,
                    format!(
                        "dual-write is not linked: the environment belongs to the finance and \
                         operations environment `{fno_url}`, but no dual-write connection links \
                         the two"
                    ),
                )
                .remediation(format!(
                    "in `{fno_url}`, open Data management › Dual-write and link to this \
                     environment (or enable dual-write from Lifecycle Services), then export the \
                     snapshot again"
                )),
            ]
        }
        Some(linked) if !same_url(linked, fno_url) => vec![
            link.finding(
                &LINKED,
                format!(
                    "dual-write links this environment to `{linked}`, but its finance and \
                     operations environment is `{fno_url}`: a Dataverse environment is linked to \
                     exactly one finance and operations environment"
                ),
            )
            .remediation(format!(
                "stop the maps, reset the dual-write connection and link `{fno_url}` to this \
                 environment (a database copied from another environment keeps that \
                 environment's link); or export the snapshot of the environment you meant"
            )),
        ],
        Some(_) => Vec::new(),
    }
}

/// CP010: same tenant, same geography, not a trial, a supported version.
fn check_pair(env: &Doc<'_>) -> Vec<Finding> {
    let fno = env.at("/financeAndOperations");
    if !fno.exists() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let ours = env.at("/environment");
    for (member, what, fix) in [
        (
            "tenantId",
            "Microsoft Entra tenant",
            "use a finance and operations environment and a Power Platform environment of the \
             same tenant: dual-write cannot link across tenants",
        ),
        (
            "geography",
            "geography",
            "use a Power Platform environment in the same geography as the finance and \
             operations environment (choose the region when you create it)",
        ),
    ] {
        let theirs = fno.get(member).as_str();
        let mine = ours.get(member).as_str();
        if let (Some(theirs), Some(mine)) = (theirs, mine)
            && !same_ignoring_ascii_case(theirs.trim(), mine.trim())
        {
            findings.push(
                fno.get(member)
                    .finding(
                        &SUPPORTED_PAIR,
                        format!(
                            "the finance and operations environment is in the {what} `{theirs}` \
                             but this environment is in `{mine}`: dual-write needs both in the \
                             same {what}"
                        ),
                    )
                    .remediation(fix),
            );
        }
    }
    let trial = fno.get("isTrial");
    if trial.bool() == Some(true) {
        findings.push(
            trial
                .finding(
                    &SUPPORTED_PAIR,
                    "the finance and operations environment is a trial instance: dual-write does \
                     not support trial instances",
                )
                .remediation(
                    "link a finance and operations sandbox or production environment (not a \
                     trial) to this environment",
                ),
        );
    }
    let version = fno.get("version");
    if let Some(text) = version.as_str()
        && let Some(parsed) = parse_version(text)
        && compare(&parsed, &MIN_VERSION).is_lt()
    {
        findings.push(
            version
                .finding(
                    &SUPPORTED_PAIR,
                    format!(
                        "the finance and operations environment runs version {text}: dual-write \
                         needs 10.0.9 or later"
                    ),
                )
                .remediation(
                    "update the finance and operations environment to a supported version",
                ),
        );
    }
    let update = fno.get("platformUpdate");
    if let Some(text) = update.as_str()
        && let Some(number) = text
            .trim()
            .strip_prefix("PU")
            .and_then(|n| n.parse::<u64>().ok())
        && number < MIN_PLATFORM_UPDATE
    {
        findings.push(
            update
                .finding(
                    &SUPPORTED_PAIR,
                    format!(
                        "the finance and operations environment runs platform update {text}: \
                         dual-write needs PU33 or later"
                    ),
                )
                .remediation(
                    "update the finance and operations environment to a supported version",
                ),
        );
    }
    findings
}

/// CP011: the environment type.
fn check_type(env: &Doc<'_>, settings: &Settings) -> Option<Finding> {
    let node = env.at("/environment/type");
    let kind = node.as_str()?;
    let fix = "provision the Customer portal in a Production or Sandbox environment linked to \
               finance and operations";
    match kind {
        "Production" | "Sandbox" => None,
        "Developer" => Some(
            node.finding(
                &ENVIRONMENT_TYPE,
                "the environment is a Developer environment: a site there is a developer site, \
                 which cannot become a production site",
            )
            .remediation(fix),
        ),
        "Trial" => Some(
            node.finding(
                &ENVIRONMENT_TYPE,
                "the environment is a Trial environment: its sites stay trial sites (30 days), \
                 and production sites must be in a Production or Sandbox environment",
            )
            .remediation(fix),
        ),
        "Default" => {
            let severity = match settings.default_environment {
                DefaultEnvironment::Allow => return None,
                DefaultEnvironment::Warning => Severity::Warning,
                DefaultEnvironment::Error => Severity::Error,
            };
            Some(
                node.finding(
                    &ENVIRONMENT_TYPE,
                    "the environment is the tenant's Default environment: production sites must \
                     be in a Production or Sandbox environment, and the Default environment is \
                     shared by every maker of the tenant [inference]",
                )
                .severity(severity)
                .remediation(format!(
                    "{fix}; or set `defaultEnvironment` to `allow` in the \
                     `customer-portal-environment` settings"
                )),
            )
        }
        other => Some(
            node.finding(
                &ENVIRONMENT_TYPE,
                format!("the environment type `{other}` is unknown"),
            )
            .remediation("give one of Production, Sandbox, Developer, Trial or Default"),
        ),
    }
}

/// CP012: no Customer portal site yet.
fn check_sites(env: &Doc<'_>, settings: &Settings) -> Vec<Finding> {
    let sites = env.at("/powerPagesSites");
    if !sites.exists() {
        return vec![
            env.root()
                .finding(
                    &ONE_SITE,
                    "the snapshot has no `powerPagesSites`: preflight cannot tell whether the \
                     environment already has a Customer portal site",
                )
                .severity(Severity::Warning)
                .remediation(
                    "export the snapshot again with the environment's Power Pages sites (`pac \
                     pages list`); an empty list says there are none",
                ),
        ];
    }
    sites
        .items()
        .filter_map(|site| {
            let template = site.get("template").as_str()?;
            if !settings
                .customer_portal_templates
                .iter()
                .any(|name| same(name, template))
            {
                return None;
            }
            let name = site
                .get("name")
                .str()
                .unwrap_or_else(|| site.pointer().to_owned());
            let url = site
                .get("url")
                .str()
                .map(|url| format!(" ({url})"))
                .unwrap_or_default();
            Some(
                site.get("template")
                    .finding(
                        &ONE_SITE,
                        format!(
                            "the environment already has the Customer portal site `{name}`{url}: \
                             only one site of this template can exist in a Dynamics 365 \
                             environment"
                        ),
                    )
                    .remediation(
                        "provision the new site in another environment, or delete the existing \
                         site first if it is to be replaced; to bring the existing site up to date \
                         with a new template, merge the template's configuration into it instead \
                         of provisioning again",
                    ),
            )
        })
        .collect()
}

struct CustomerPortalEnvironment;

impl Policy for CustomerPortalEnvironment {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-environment",
        version: env!("CARGO_PKG_VERSION"),
        description: "The target environment can host the Customer portal: Dataverse with \
                      Dynamics 365 apps, linked by dual-write to one supported finance and \
                      operations environment (same tenant and geography, not a trial), a \
                      Production or Sandbox environment, and no Customer portal site yet.",
        rules: &[
            DATAVERSE,
            LINKED,
            SUPPORTED_PAIR,
            ENVIRONMENT_TYPE,
            ONE_SITE,
        ],
        documents: &[Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        if settings.customer_portal_templates.is_empty() {
            return Err("`customerPortalTemplates` must name at least one template".to_owned());
        }
        Ok(())
    }

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let mut findings = Vec::new();
        findings.extend(check_dataverse(env));
        findings.extend(check_link(env));
        findings.extend(check_pair(env));
        findings.extend(check_type(env, settings));
        findings.extend(check_sites(env, settings));
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalEnvironment);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_without_scheme_case_or_trailing_slash() {
        assert!(same_url(
            "https://contoso-prod.operations.dynamics.com/",
            "https://Contoso-Prod.operations.dynamics.com"
        ));
        assert!(!same_url(
            "https://contoso-prod.operations.dynamics.com",
            "https://contoso-uat.sandbox.operations.dynamics.com"
        ));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(compare(&parse_version("10.0.8").unwrap(), &MIN_VERSION).is_lt());
        assert!(compare(&parse_version("10.0.41").unwrap(), &MIN_VERSION).is_gt());
        assert!(compare(&parse_version("10.0.9.0").unwrap(), &MIN_VERSION).is_eq());
    }
}
