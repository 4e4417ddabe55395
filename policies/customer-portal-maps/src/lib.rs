//! The dual-write table maps the Customer portal needs exist and are running.

use preflight_sdk::dualwrite::{self, Map, Wanted};
use preflight_sdk::prelude::*;

const MAPS_RUNNING: Rule = Rule {
    id: "CP004",
    title: "Required dual-write table maps are running",
    severity: Severity::Error,
    help: include_str!("../rules/CP004.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/supply-chain/sales-marketing/customer-portal-setup#required-setup",
    ),
};

const ONE_VARIANT: Rule = Rule {
    id: "CP008",
    title: "Only one sales order map variant runs",
    severity: Severity::Error,
    help: include_str!("../rules/CP008.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/enable-entity-map",
    ),
};

/// Which map carries the portal's contacts.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum ContactsMap {
    #[default]
    CdsContactsV2,
    CustomersV3,
    GlobalAddressBook,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    contacts: ContactsMap,
}

/// A map as the finance and operations entity and the Dataverse table it joins.
#[derive(Clone, Copy, Debug)]
struct MapId {
    entity: &'static str,
    table: &'static str,
}

impl MapId {
    const fn new(entity: &'static str, table: &'static str) -> MapId {
        MapId { entity, table }
    }

    fn display(&self) -> String {
        format!("{} ({})", self.entity, self.table)
    }
}

/// One thing the setup article asks for, and the maps that satisfy it.
struct Requirement {
    /// The article's wording.
    label: &'static str,
    variants: &'static [MapId],
}

const SO_HEADERS_CDS: MapId = MapId::new("CDS sales order headers", "salesorders");
const SO_HEADERS_D365: MapId = MapId::new("Dynamics 365 Sales order headers", "salesorders");
const SO_LINES_CDS: MapId = MapId::new("CDS sales order lines", "salesorderdetails");
const SO_LINES_D365: MapId = MapId::new("Dynamics 365 Sales order lines", "salesorderdetails");

/// What the article asks for, with the contacts map the settings choose: built
/// in constants, since every evaluation asks.
fn requirements(settings: &Settings) -> [Requirement; 5] {
    let contacts: &'static [MapId] = match settings.contacts {
        ContactsMap::CdsContactsV2 => const { &[MapId::new("CDS Contacts V2", "contacts")] },
        ContactsMap::CustomersV3 => const { &[MapId::new("Customers V3", "contacts")] },
        ContactsMap::GlobalAddressBook => {
            const { &[MapId::new("Contacts V2", "msdyn_contactforparties")] }
        }
    };
    [
        Requirement {
            label: "Sales Order Header",
            variants: const { &[SO_HEADERS_CDS, SO_HEADERS_D365] },
        },
        Requirement {
            label: "Sales Order Details",
            variants: const { &[SO_LINES_CDS, SO_LINES_D365] },
        },
        Requirement {
            label: "Accounts",
            variants: const { &[MapId::new("Customers V3", "accounts")] },
        },
        Requirement {
            label: "Contacts",
            variants: contacts,
        },
        Requirement {
            label: "Products",
            variants: const { &[MapId::new("CDS released distinct products", "products")] },
        },
    ]
}

/// A map found in the snapshot.
#[derive(Clone, Copy)]
struct Found<'a, 'd> {
    map: &'a Map<'d>,
    id: &'a MapId,
}

impl Found<'_, '_> {
    /// Its name, or the one it would have.
    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.map
            .name()
            .map_or_else(|| self.id.display().into(), Into::into)
    }

    fn state(&self) -> &str {
        self.map.state().unwrap_or_default()
    }
}

fn find<'a, 'd>(maps: &'a [Map<'d>], id: &'a MapId) -> Option<Found<'a, 'd>> {
    let wanted = Wanted::new(id.entity, id.table);
    maps.iter()
        .find(|map| map.is_wanted(&wanted))
        .map(|map| Found { map, id })
}

fn not_running(label: &str, found: &Found<'_, '_>) -> Finding {
    let name = found.name();
    let (message, fix) = match found.state() {
        "Not running" => (
            format!("the {label} map `{name}` is not running"),
            format!(
                "in Data management › Dual-write, select `{name}` and select Run \
                 (with Initial synchronization if the tables already hold data)"
            ),
        ),
        "Initializing" => (
            format!(
                "the {label} map `{name}` is still initializing: its initial synchronization \
                 has not finished"
            ),
            "wait for the initial synchronization to finish, check the Initial sync details tab \
             for errors (at most 500,000 rows per run and legal entity, 24 hours), then export \
             the snapshot again"
                .to_owned(),
        ),
        "Paused" => (
            format!(
                "the {label} map `{name}` is paused: changes queue up (at most one day or 1 GB) \
                 and do not reach the portal"
            ),
            format!("in Data management › Dual-write, select `{name}` and select Resume"),
        ),
        "Resuming" => (
            format!("the {label} map `{name}` is resuming and not yet running"),
            "wait until the map shows Running, then export the snapshot again".to_owned(),
        ),
        other => (
            format!("the {label} map `{name}` is in the unknown state `{other}`"),
            "check the map in Data management › Dual-write; the states are Not running, \
             Initializing, Running, Paused and Resuming"
                .to_owned(),
        ),
    };
    found
        .map
        .node
        .get("state")
        .finding(&MAPS_RUNNING, message)
        .remediation(fix)
}

struct CustomerPortalMaps;

impl Policy for CustomerPortalMaps {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-maps",
        version: env!("CARGO_PKG_VERSION"),
        description: "The dual-write table maps the Customer portal needs (sales order headers and \
                      lines, accounts, contacts, products) exist and are running.",
        rules: &[MAPS_RUNNING, ONE_VARIANT],
        documents: &[Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let maps_node = env.at("/dualWrite/maps");
        let maps = dualwrite::maps(&maps_node);
        // Findings about a missing map point at the closest place that exists.
        let missing_at = || {
            [maps_node.clone(), env.at("/dualWrite"), env.root()]
                .into_iter()
                .find(Node::exists)
                .unwrap_or_else(|| env.root())
        };
        let mut findings = Vec::new();

        for requirement in requirements(settings) {
            // A requirement has one or two variants (CDS and Dynamics 365): the maps
            // found are kept in place, not in an allocation per requirement.
            let mut slots = [None; 2];
            assert!(requirement.variants.len() <= slots.len());
            for (slot, map) in slots
                .iter_mut()
                .zip(requirement.variants.iter().filter_map(|id| find(&maps, id)))
            {
                *slot = Some(map);
            }
            let found = || slots.iter().flatten();
            let is_running = |map: &&Found<'_, '_>| map.state() == "Running";
            let Some(first) = found().next() else {
                let names: Vec<String> = requirement
                    .variants
                    .iter()
                    .map(|id| format!("`{}`", id.display()))
                    .collect();
                findings.push(
                    missing_at()
                        .finding(
                            &MAPS_RUNNING,
                            format!(
                                "no {} map in dual-write: expected {}",
                                requirement.label,
                                names.join(" or ")
                            ),
                        )
                        .remediation(format!(
                            "install the dual-write solution that carries {} and run the map in \
                             Data management › Dual-write",
                            names.join(" or ")
                        )),
                );
                continue;
            };
            match found().filter(is_running).count() {
                0 => findings.push(not_running(requirement.label, first)),
                1 => {}
                _ => {
                    let names: Vec<String> = found()
                        .filter(is_running)
                        .map(|map| format!("`{}`", map.name()))
                        .collect();
                    let last = found().rfind(is_running).expect("two run");
                    findings.push(
                        last.map
                            .node
                            .get("state")
                            .finding(
                                &ONE_VARIANT,
                                format!(
                                    "{} maps run at once for {}: both write the same Dataverse table",
                                    names.join(" and "),
                                    requirement.label
                                ),
                            )
                            .remediation(
                                "stop the CDS variant when the Dynamics 365 variant runs, in Data \
                                 management › Dual-write",
                            ),
                    );
                }
            }
        }
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalMaps);
