//! The dual-write maps that the Customer portal's maps look up (legal entities,
//! currencies, customer groups, units...) exist and are running.

use preflight_sdk::dualwrite::{self, Map, Wanted};
use preflight_sdk::prelude::*;

const PREREQUISITES: Rule = Rule {
    id: "CP005",
    title: "Prerequisite dual-write maps of the required maps are running",
    severity: Severity::Error,
    help: include_str!("../rules/CP005.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/enable-entity-map",
    ),
};

/// How serious a missing or stopped prerequisite is, as the settings spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Error,
    Warning,
    Info,
}

impl From<Level> for Severity {
    fn from(level: Level) -> Severity {
        match level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
            Level::Info => Severity::Info,
        }
    }
}

/// One prerequisite map.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Prerequisite {
    /// The finance and operations entity, e.g. `Legal entities`.
    entity: String,
    /// The Dataverse table, e.g. `cdm_companies`.
    table: String,
    /// Why it is needed, a clause such as `every company-specific map needs it`.
    needed_by: String,
    /// Not stated by Microsoft: marked `[inference]` and a warning by default.
    #[serde(default)]
    inference: bool,
    /// Overrides the severity (documented: error; inference: warning).
    #[serde(default)]
    severity: Option<Level>,
}

impl Prerequisite {
    fn new(entity: &str, table: &str, needed_by: &str, inference: bool) -> Prerequisite {
        Prerequisite {
            entity: entity.to_owned(),
            table: table.to_owned(),
            needed_by: needed_by.to_owned(),
            inference,
            severity: None,
        }
    }

    fn display(&self) -> String {
        format!("{} ({})", self.entity, self.table)
    }

    fn severity(&self) -> Severity {
        match self.severity {
            Some(level) => level.into(),
            None if self.inference => Severity::Warning,
            None => Severity::Error,
        }
    }

    /// Why it is needed, marked when it is an inference.
    fn reason(&self) -> String {
        if self.inference {
            format!("{} [inference]", self.needed_by)
        } else {
            self.needed_by.clone()
        }
    }
}

/// The defaults, as documented in `settings.schema.json` and `rules/CP005.md`.
fn default_maps() -> Vec<Prerequisite> {
    vec![
        Prerequisite::new(
            "Legal entities",
            "cdm_companies",
            "every company-specific map (customers, contacts, products, sales orders) needs it",
            false,
        ),
        Prerequisite::new(
            "Currencies",
            "transactioncurrencies",
            "the customer and contact maps depend on currencies",
            false,
        ),
        Prerequisite::new(
            "Customer groups",
            "msdyn_customergroups",
            "the customer and contact maps depend on customer groups",
            false,
        ),
        Prerequisite::new(
            "Terms of payment",
            "msdyn_paymentterms",
            "sales order headers look up terms of payment",
            true,
        ),
        Prerequisite::new("Units", "uoms", "sales order lines look up units", true),
        Prerequisite::new(
            "Sites",
            "msdyn_operationalsites",
            "sales order headers look up sites",
            true,
        ),
        Prerequisite::new(
            "Warehouses",
            "msdyn_warehouses",
            "sales order headers look up warehouses",
            true,
        ),
        Prerequisite::new(
            "Modes of delivery",
            "msdyn_shipvias",
            "sales order headers look up modes of delivery",
            true,
        ),
    ]
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    /// Replaces the default list.
    #[serde(default = "default_maps")]
    maps: Vec<Prerequisite>,
    /// Added to `maps`.
    #[serde(default)]
    extra_maps: Vec<Prerequisite>,
}

fn not_running(node: &Node<'_>, prerequisite: &Prerequisite, state: &str) -> Finding {
    let name = node
        .get("name")
        .str()
        .unwrap_or_else(|| prerequisite.display());
    let reason = prerequisite.reason();
    let (what, fix) = match state {
        "Not running" => (
            "is not running".to_owned(),
            format!(
                "in Data management › Dual-write, run `{name}` (with Initial synchronization when \
                 the tables already hold data) before the maps that need it"
            ),
        ),
        "Initializing" => (
            "is still initializing: its initial synchronization has not finished".to_owned(),
            "wait for the initial synchronization to finish and check its details for errors, \
             then export the snapshot again"
                .to_owned(),
        ),
        "Paused" => (
            "is paused: changes queue up and the maps that need it read stale rows".to_owned(),
            format!("in Data management › Dual-write, select `{name}` and select Resume"),
        ),
        "Resuming" => (
            "is resuming and not yet running".to_owned(),
            "wait until the map shows Running, then export the snapshot again".to_owned(),
        ),
        other => (
            format!("is in the unknown state `{other}`"),
            "check the map in Data management › Dual-write".to_owned(),
        ),
    };
    node.get("state")
        .finding(
            &PREREQUISITES,
            format!("the prerequisite map `{name}` {what}; {reason}"),
        )
        .severity(prerequisite.severity())
        .remediation(fix)
}

struct CustomerPortalMapPrerequisites;

impl Policy for CustomerPortalMapPrerequisites {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-map-prerequisites",
        version: env!("CARGO_PKG_VERSION"),
        description: "The dual-write maps that the Customer portal's maps depend on (legal \
                      entities, currencies, customer groups, and, by inference, payment terms, \
                      units, sites, warehouses and modes of delivery) exist and are running.",
        rules: &[PREREQUISITES],
        documents: &[Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        for prerequisite in settings.maps.iter().chain(&settings.extra_maps) {
            if prerequisite.entity.trim().is_empty() || prerequisite.table.trim().is_empty() {
                return Err("every prerequisite map needs an `entity` and a `table`".to_owned());
            }
        }
        Ok(())
    }

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let maps_node = env.at("/dualWrite/maps");
        if !maps_node.exists() {
            let at = if env.at("/dualWrite").exists() {
                env.at("/dualWrite")
            } else {
                env.root()
            };
            return Ok(vec![
                at.finding(
                    &PREREQUISITES,
                    "the snapshot has no dual-write maps: dual-write is not set up, so the \
                     prerequisite maps (legal entities, currencies, customer groups...) are missing",
                )
                .remediation(
                    "set up dual-write between the environments, run the prerequisite maps, then \
                     export the snapshot again with `dualWrite.maps`",
                ),
            ]);
        }
        let maps = dualwrite::maps(&maps_node);
        let mut findings = Vec::new();
        for prerequisite in settings.maps.iter().chain(&settings.extra_maps) {
            let wanted = Wanted::new(&prerequisite.entity, &prerequisite.table);
            let mut found = maps.iter().filter(|map| map.is_wanted(&wanted));
            let Some(first) = found.next() else {
                findings.push(
                    maps_node
                        .finding(
                            &PREREQUISITES,
                            format!(
                                "the prerequisite map `{}` is not in dual-write; {}",
                                prerequisite.display(),
                                prerequisite.reason()
                            ),
                        )
                        .severity(prerequisite.severity())
                        .remediation(format!(
                            "install the dual-write solution that carries `{}` and run it in Data \
                             management › Dual-write before the maps that need it",
                            prerequisite.display()
                        )),
                );
                continue;
            };
            let running = |map: &Map<'_>| map.state() == Some("Running");
            if !running(first) && !found.any(running) {
                findings.push(not_running(
                    &first.node,
                    prerequisite,
                    first.state().unwrap_or_default(),
                ));
            }
        }
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalMapPrerequisites);
