//! The dual-write solutions the Customer portal needs are installed (the core, and
//! the application packages with their dependency chain), and the Data Integrator
//! Prospect-to-cash solution is gone.

use preflight_sdk::prelude::*;
use preflight_sdk::text::same_ignoring_ascii_case;
use preflight_sdk::version::{compare, parse as parse_version};

const CORE: Rule = Rule {
    id: "CP002",
    title: "The dual-write core solution is installed",
    severity: Severity::Error,
    help: include_str!("../rules/CP002.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/separated-solutions",
    ),
};

const PACKAGES: Rule = Rule {
    id: "CP003",
    title: "The dual-write application solutions are installed with their dependencies",
    severity: Severity::Error,
    help: include_str!("../rules/CP003.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/separated-solutions",
    ),
};

const PROSPECT_TO_CASH: Rule = Rule {
    id: "CP007",
    title: "The Data Integrator Prospect-to-cash solution is uninstalled",
    severity: Severity::Error,
    help: include_str!("../rules/CP007.md"),
    help_url: Some(
        "https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/dual-write/requirements-and-prerequisites",
    ),
};

const CORE_SOLUTION: &str = "DualWriteCore";
/// Older cores ask for an extra consent when the environments are linked.
const CONSENT_FREE_CORE: [u64; 4] = [1, 0, 16, 0];

/// A dual-write application package (one AppSource offer, several solutions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PackageId {
    ApplicationCore,
    Finance,
    HumanResources,
    SupplyChain,
    Party,
}

struct Package {
    id: PackageId,
    label: &'static str,
    solutions: &'static [&'static str],
    /// The packages it needs, each with whether Microsoft says so (`false`: inference).
    needs: &'static [(PackageId, bool)],
}

/// In dependency order: a package comes after everything it needs.
const PACKAGE_LIST: &[Package] = &[
    Package {
        id: PackageId::ApplicationCore,
        label: "Application Core",
        solutions: &[
            "Dynamics365Company",
            "Dynamics365FinanceAndOperationsCommon",
            "CurrencyExchangeRates",
            "msdyn_DualWriteAppCoreMaps",
            "msdyn_DualWriteAppCoreAnchor",
        ],
        needs: &[],
    },
    Package {
        id: PackageId::Finance,
        label: "Finance",
        solutions: &[
            "Dynamics365FinanceExtended",
            "msdyn_Dynamics365FinanceExtendedMaps",
            "FieldServiceCommon",
            "msdyn_Dynamics365FinanceExtendedAnchor",
        ],
        needs: &[(PackageId::ApplicationCore, true)],
    },
    Package {
        id: PackageId::HumanResources,
        label: "Human Resources",
        solutions: &[
            "HCMCommon",
            "msdyn_Dynamics365HCMMaps",
            "msdyn_Dynamics365HCMAnchor",
        ],
        needs: &[(PackageId::ApplicationCore, false)],
    },
    Package {
        id: PackageId::SupplyChain,
        label: "Supply Chain",
        solutions: &[
            "Dynamics365SupplyChainExtended",
            "msdyn_Dynamics365SupplyChainExtendedMaps",
            "msdyn_Dynamics365SupplyChainExtendedAnchor",
        ],
        needs: &[
            (PackageId::ApplicationCore, true),
            (PackageId::Finance, true),
            (PackageId::HumanResources, true),
        ],
    },
    Package {
        id: PackageId::Party,
        label: "Party and global address book",
        solutions: &[
            "Party",
            "Dynamics365GABExtended",
            "Dynamics365GABDualWriteEntityMaps",
            "Dynamics365GABParty_Anchor",
        ],
        needs: &[
            (PackageId::ApplicationCore, true),
            (PackageId::Finance, true),
            (PackageId::SupplyChain, true),
        ],
    },
];

fn package(id: PackageId) -> &'static Package {
    PACKAGE_LIST
        .iter()
        .find(|package| package.id == id)
        .expect("every package id is listed")
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    /// The packages the site needs; their dependencies are added.
    #[serde(default = "default_packages")]
    packages: Vec<PackageId>,
    /// Unique names of the Data Integrator Prospect-to-cash solution (inference).
    #[serde(default = "default_prospect_to_cash")]
    prospect_to_cash_solutions: Vec<String>,
}

fn default_packages() -> Vec<PackageId> {
    vec![PackageId::SupplyChain]
}

fn default_prospect_to_cash() -> Vec<String> {
    vec!["ProspectToCash".to_owned()]
}

/// A solution found in the snapshot.
struct Installed<'d> {
    node: Node<'d>,
    unique_name: &'d str,
    friendly_name: Option<&'d str>,
}

fn installed<'d>(env: &'d Doc<'d>) -> Vec<Installed<'d>> {
    let items = env.at("/solutions").items();
    // Sized for all of them up front: one allocation, not one per doubling.
    let mut installed = Vec::with_capacity(items.size_hint().0);
    installed.extend(items.filter_map(|node| {
        // The version is read only for the core solution.
        let [unique_name, friendly_name] = node.strs(["uniqueName", "friendlyName"]);
        Some(Installed {
            unique_name: unique_name?,
            friendly_name,
            node,
        })
    }));
    installed
}

fn find<'a, 'd>(solutions: &'a [Installed<'d>], unique_name: &str) -> Option<&'a Installed<'d>> {
    solutions
        .iter()
        .find(|solution| same_ignoring_ascii_case(solution.unique_name, unique_name))
}

fn quoted(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    join(&names)
}

fn join(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn check_core(env: &Doc<'_>, solutions: &[Installed<'_>]) -> Option<Finding> {
    let Some(core) = find(solutions, CORE_SOLUTION) else {
        return Some(
            env.at("/solutions")
                .finding(
                    &CORE,
                    "the dual-write core solution `DualWriteCore` is not installed: provisioning \
                     the Customer portal fails without dual-write",
                )
                .remediation(
                    "install the dual-write core solution (`DualWriteCore`, from Microsoft \
                     AppSource or while linking the environments in Lifecycle Services), then the \
                     dual-write application solutions, and export the snapshot again",
                ),
        );
    };
    let node = core.node.get("version");
    let text = node.as_str().unwrap_or_default();
    match parse_version(text) {
        None => Some(
            node.finding(
                &CORE,
                format!(
                    "the version `{text}` of the dual-write core solution is not a dotted version"
                ),
            )
            .severity(Severity::Warning)
            .remediation(
                "export the snapshot again with the solution's version, such as `1.0.24062.1`",
            ),
        ),
        Some(version) if compare(&version, &CONSENT_FREE_CORE).is_lt() => Some(
            node.finding(
                &CORE,
                format!(
                    "the dual-write core solution is version {text}, older than 1.0.16.0: linking \
                     the environments with it needs an extra consent"
                ),
            )
            .severity(Severity::Warning)
            .remediation(
                "update the dual-write core solution to 1.0.16.0 or later (Microsoft AppSource, or \
                 the Power Platform admin center › Dynamics 365 apps) before linking, or be ready \
                 to grant the extra consent when you link",
            ),
        ),
        Some(_) => None,
    }
}

fn check_packages(env: &Doc<'_>, solutions: &[Installed<'_>], settings: &Settings) -> Vec<Finding> {
    // The requested packages and everything they need.
    let mut wanted: Vec<PackageId> = settings.packages.clone();
    let mut i = 0;
    while i < wanted.len() {
        for (need, _) in package(wanted[i]).needs {
            if !wanted.contains(need) {
                wanted.push(*need);
            }
        }
        i += 1;
    }

    let mut findings = Vec::new();
    for package in PACKAGE_LIST
        .iter()
        .filter(|package| wanted.contains(&package.id))
    {
        let missing: Vec<&str> = package
            .solutions
            .iter()
            .copied()
            .filter(|name| find(solutions, name).is_none())
            .collect();
        if missing.is_empty() {
            continue;
        }
        // Who needs it: the portal itself, and the wanted packages that depend on it.
        let mut needed_by: Vec<String> = Vec::new();
        if settings.packages.contains(&package.id) {
            needed_by.push("the Customer portal".to_owned());
        }
        for dependent in PACKAGE_LIST.iter().filter(|p| wanted.contains(&p.id)) {
            if let Some((_, documented)) = dependent.needs.iter().find(|(id, _)| *id == package.id)
            {
                needed_by.push(format!(
                    "the {} package{}",
                    dependent.label,
                    if *documented { "" } else { " [inference]" }
                ));
            }
        }
        let state = if missing.len() == package.solutions.len() {
            format!(
                "the dual-write {} package is not installed (none of {})",
                package.label,
                quoted(package.solutions)
            )
        } else {
            format!(
                "the dual-write {} package is incomplete: {} {} missing",
                package.label,
                quoted(&missing),
                if missing.len() == 1 { "is" } else { "are" }
            )
        };
        let order: Vec<&str> = PACKAGE_LIST
            .iter()
            .filter(|p| wanted.contains(&p.id))
            .map(|p| p.label)
            .collect();
        findings.push(
            env.at("/solutions")
                .finding(
                    &PACKAGES,
                    format!(
                        "{state}; {} {} it",
                        join(&needed_by),
                        if needed_by.len() == 1 {
                            "needs"
                        } else {
                            "need"
                        }
                    ),
                )
                .remediation(format!(
                    "install the dual-write {} package from Microsoft AppSource (it brings {}); \
                     install the packages in dependency order: {}",
                    package.label,
                    quoted(package.solutions),
                    order.join(", then ")
                )),
        );
    }
    findings
}

fn check_prospect_to_cash(solutions: &[Installed<'_>], settings: &Settings) -> Vec<Finding> {
    solutions
        .iter()
        .filter(|solution| {
            settings
                .prospect_to_cash_solutions
                .iter()
                .any(|name| same_ignoring_ascii_case(solution.unique_name, name))
                || solution.friendly_name.is_some_and(|name| {
                    // Its letters and digits only, in any case (no byte of a non-ASCII
                    // character is an ASCII letter or digit).
                    name.bytes()
                        .filter(u8::is_ascii_alphanumeric)
                        .map(|byte| byte.to_ascii_lowercase())
                        .eq("prospecttocash".bytes())
                })
        })
        .map(|solution| {
            solution
                .node
                .finding(
                    &PROSPECT_TO_CASH,
                    format!(
                        "the Data Integrator Prospect-to-cash solution `{}` is still installed: it \
                         must be uninstalled before dual-write is used",
                        solution.unique_name
                    ),
                )
                .remediation(format!(
                    "move the Prospect-to-cash integration to dual-write, stop and delete the Data \
                     Integrator projects, then uninstall the `{}` solution from the environment",
                    solution.unique_name
                ))
        })
        .collect()
}

struct CustomerPortalSolutions;

impl Policy for CustomerPortalSolutions {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-solutions",
        version: env!("CARGO_PKG_VERSION"),
        description: "The dual-write solutions the Customer portal needs are installed: the \
                      core (1.0.16.0 or later) and the application packages with their \
                      dependencies; the Data Integrator Prospect-to-cash solution is not.",
        rules: &[CORE, PACKAGES, PROSPECT_TO_CASH],
        documents: &[Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        if settings
            .prospect_to_cash_solutions
            .iter()
            .any(|name| name.trim().is_empty())
        {
            return Err("`prospectToCashSolutions` has an empty name".to_owned());
        }
        Ok(())
    }

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let solutions = installed(env);
        let mut findings = Vec::new();
        findings.extend(check_core(env, &solutions));
        findings.extend(check_packages(env, &solutions, settings));
        findings.extend(check_prospect_to_cash(&solutions, settings));
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalSolutions);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |text| parse_version(text).unwrap();
        assert!(compare(&v("1.0.15.2"), &CONSENT_FREE_CORE).is_lt());
        assert!(compare(&v("1.0.9.0"), &CONSENT_FREE_CORE).is_lt());
        assert!(compare(&v("1.0.16"), &CONSENT_FREE_CORE).is_eq());
        assert!(compare(&v("1.0.16.0"), &CONSENT_FREE_CORE).is_eq());
        assert!(compare(&v("1.0.24062.1"), &CONSENT_FREE_CORE).is_gt());
        assert!(compare(&v("2.0"), &CONSENT_FREE_CORE).is_gt());
        assert_eq!(parse_version("1.0.x"), None);
    }

    #[test]
    fn packages_come_after_what_they_need() {
        for (index, package) in PACKAGE_LIST.iter().enumerate() {
            for (need, _) in package.needs {
                let at = PACKAGE_LIST.iter().position(|p| p.id == *need).unwrap();
                assert!(at < index, "{} is listed before {:?}", package.label, need);
            }
        }
    }
}
