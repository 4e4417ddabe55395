//! Readiness of a Customer portal site to be migrated (Configuration Migration tool,
//! or `pac pages upload`) into a target environment.
//!
//! Reads the `site` (the folder of the site to migrate) and the `environment` (the
//! snapshot of the **target** environment).

use preflight_sdk::prelude::*;
use preflight_sdk::text::normalise;

const MIGRATE: &str = "https://learn.microsoft.com/power-pages/admin/migrate-site-configuration";

const STANDARD_MODEL: Rule = Rule {
    id: "MG001",
    title: "The site uses the standard data model",
    severity: Severity::Error,
    help: include_str!("../rules/MG001.md"),
    help_url: Some("https://learn.microsoft.com/power-pages/admin/enhanced-data-model"),
};

const NO_SITE_YET: Rule = Rule {
    id: "MG002",
    title: "The target environment has no Customer portal site yet",
    severity: Severity::Error,
    help: include_str!("../rules/MG002.md"),
    help_url: Some(
        "https://learn.microsoft.com/power-pages/templates/dynamics-365-apps/overview#supply-chain-management-customer-site",
    ),
};

const SAME_LANGUAGE: Rule = Rule {
    id: "MG003",
    title: "The site's language is the target environment's base language",
    severity: Severity::Error,
    help: include_str!("../rules/MG003.md"),
    help_url: Some(MIGRATE),
};

const TEMPLATE_INSTALLED: Rule = Rule {
    id: "MG004",
    title: "The target environment has the template's solutions",
    severity: Severity::Error,
    help: include_str!("../rules/MG004.md"),
    help_url: Some(MIGRATE),
};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default = "default_template_names")]
    template_names: Vec<String>,
    #[serde(default)]
    template_solutions: Vec<String>,
}

fn default_template_names() -> Vec<String> {
    [
        "Customer Portal",
        "Customer portal",
        "Supply Chain Management Customer",
        "Customer Portal (Dynamics 365)",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The first of these members that holds a string.
fn first_str(node: &Node<'_>, members: &[&str]) -> Option<(String, String)> {
    members.iter().find_map(|member| {
        node.get(member)
            .str()
            .map(|value| ((*member).to_owned(), value))
    })
}

/// A number, or a number written as text.
fn lcid(node: &Node<'_>) -> Option<i64> {
    node.i64()
        .or_else(|| node.str().and_then(|text| text.trim().parse().ok()))
}

struct CustomerPortalMigration;

impl Policy for CustomerPortalMigration {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-migration",
        version: env!("CARGO_PKG_VERSION"),
        description: "Checks that a Customer portal site can be migrated into a target environment: \
                      standard data model, no other Customer portal site there, the same base \
                      language, and (when the settings list them) the template's solutions.",
        rules: &[
            STANDARD_MODEL,
            NO_SITE_YET,
            SAME_LANGUAGE,
            TEMPLATE_INSTALLED,
        ],
        documents: &[Need::required("site"), Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let site = input.document("site")?;
        let env = input.document("environment")?;
        let mut findings = Vec::new();

        // MG001: the data model.
        let model = site.at("/dataModel");
        match model.str().as_deref() {
            Some("standard") => {}
            Some("enhanced") => findings.push(
                model
                    .finding(
                        &STANDARD_MODEL,
                        "the site was downloaded with the enhanced data model; the Customer portal \
                         template always uses the standard data model",
                    )
                    .remediation(
                        "migrate the Customer portal site with the standard data model: download it with \
                         `pac pages download --modelVersion Standard` (and do not convert it with \
                         `pac pages migrate-datamodel`)",
                    ),
            ),
            other => findings.push(
                site.root()
                    .finding(
                        &STANDARD_MODEL,
                        match other {
                            Some(other) => format!("the site document has the unknown data model `{other}`"),
                            None => "the site document does not say its data model: it is not a folder \
                                     read from `pac pages download`"
                                .to_owned(),
                        },
                    )
                    .remediation("give --site the folder written by `pac pages download`"),
            ),
        }

        // MG002: no Customer portal site in the target yet.
        let site_id = site.at("/website/id").str().map(|id| id.to_lowercase());
        let names: Vec<String> = settings
            .template_names
            .iter()
            .map(|name| normalise(name))
            .collect();
        let sites = env.at("/powerPagesSites");
        if !sites.exists() {
            findings.push(
                env.root()
                    .finding(
                        &NO_SITE_YET,
                        "the environment snapshot has no `powerPagesSites`: preflight cannot tell \
                         whether the target already has a Customer portal site",
                    )
                    .severity(Severity::Warning)
                    .remediation("export the snapshot again with the environment's Power Pages sites (`pac pages list`)"),
            );
        }
        for entry in sites.items() {
            let label = first_str(&entry, &["name", "friendlyName", "displayName"])
                .map_or_else(|| entry.pointer().to_owned(), |(_, name)| name);
            let id = first_str(&entry, &["id", "websiteRecordId", "websiteId"])
                .map(|(_, id)| id.to_lowercase());
            if id.is_some() && id == site_id {
                findings.push(
                    entry
                        .finding(
                            &NO_SITE_YET,
                            format!(
                                "the target environment already holds this site (`{label}`, the same \
                                 website record): the migration overwrites its configuration"
                            ),
                        )
                        .severity(Severity::Warning)
                        .remediation(
                            "make sure the target is the environment you mean to update, and back up its \
                             site configuration first",
                        ),
                );
                continue;
            }
            match first_str(&entry, &["template", "templateName"]) {
                Some((member, template)) if names.contains(&normalise(&template)) => findings.push(
                    entry
                        .get(&member)
                        .finding(
                            &NO_SITE_YET,
                            format!(
                                "the target environment already has the Customer portal site `{label}`: only \
                                 one site of this template can exist in a Dynamics 365 environment"
                            ),
                        )
                        .remediation(
                            "migrate into an environment without a Customer portal site, or delete that \
                             site (in the Power Platform admin center) before migrating",
                        ),
                ),
                Some(_) => {}
                None => findings.push(
                    entry
                        .finding(
                            &NO_SITE_YET,
                            format!(
                                "the snapshot does not say which template the target's site `{label}` uses: \
                                 it may already be a Customer portal site"
                            ),
                        )
                        .severity(Severity::Warning)
                        .remediation("check the site in the Power Pages home page (Active sites) of the target"),
                ),
            }
        }

        // MG003: the same language.
        let site_lcid = lcid(&site.at("/website/lcid"));
        let base = env.at("/environment/baseLanguage");
        match (site_lcid, lcid(&base)) {
            (Some(site_lcid), Some(target)) if site_lcid != target => findings.push(
                base.finding(
                    &SAME_LANGUAGE,
                    format!(
                        "the site's language is {site_lcid} but the target environment's base language is \
                         {target}: the Configuration Migration tool needs the same default language in both"
                    ),
                )
                .remediation(
                    "migrate into an environment created with the site's base language (the base language \
                     of an environment cannot be changed)",
                ),
            ),
            (Some(_), Some(_)) => {}
            (None, _) if model.str().as_deref() == Some("standard") => findings.push(
                site.at("/website")
                    .finding(&SAME_LANGUAGE, "the site's `website.yml` has no `adx_website_language`")
                    .severity(Severity::Warning)
                    .remediation("download the site again with `pac pages download`"),
            ),
            (None, _) => {}
            (Some(_), None) => findings.push(
                env.at("/environment")
                    .finding(
                        &SAME_LANGUAGE,
                        "the environment snapshot has no `baseLanguage`: preflight cannot compare it with \
                         the site's language",
                    )
                    .severity(Severity::Warning)
                    .remediation("export the snapshot again with the environment's base language"),
            ),
        }

        // MG004: the template's solutions, when the settings name them.
        let solutions: Vec<String> = env
            .at("/solutions")
            .items()
            .filter_map(|solution| solution.get("uniqueName").str())
            .collect();
        for required in &settings.template_solutions {
            if !solutions
                .iter()
                .any(|name| name.eq_ignore_ascii_case(required))
            {
                findings.push(
                    env.at("/solutions")
                        .finding(
                            &TEMPLATE_INSTALLED,
                            format!(
                                "the solution `{required}` of the Customer portal template is not \
                                 installed in the target environment: the migration needs the same \
                                 template installed there"
                            ),
                        )
                        .remediation(
                            "install the Customer portal template in the target (Power Pages › \
                             Templates › Dynamics 365) before importing the site configuration",
                        ),
                );
            }
        }

        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalMigration);
