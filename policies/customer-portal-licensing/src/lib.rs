//! The environment has the Power Pages capacity or use rights the Customer portal
//! needs, and does not mix pay-as-you-go billing with subscription capacity.

use preflight_sdk::prelude::*;

const LICENSED: Rule = Rule {
    id: "CP001",
    title: "The environment has Power Pages capacity or use rights",
    severity: Severity::Error,
    help: include_str!("../rules/CP001.md"),
    help_url: Some(
        "https://learn.microsoft.com/power-platform/admin/powerapps-flow-licensing-faq#portals",
    ),
};

/// The smallest capacity that can be allocated to one environment.
const MIN_AUTHENTICATED: i64 = 25;
const MIN_ANONYMOUS: i64 = 200;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    /// The site's users are customers who sign in: external users, who need
    /// authenticated users capacity (an inference from what the template is for).
    #[serde(default = "yes")]
    external_users: bool,
}

fn yes() -> bool {
    true
}

/// What the snapshot says about Power Pages licensing, absent numbers read as 0.
struct Licensing {
    authenticated: i64,
    anonymous: i64,
    pay_as_you_go: bool,
    per_app: i64,
    per_user: i64,
    portal_logins: i64,
    portal_views: i64,
    enterprise: bool,
}

impl Licensing {
    fn read(licensing: &Node<'_>) -> Licensing {
        let pages = licensing.get("powerPages");
        let count = |node: Node<'_>| node.i64().unwrap_or(0).max(0);
        Licensing {
            authenticated: count(pages.get("authenticatedUsersPerMonth")),
            anonymous: count(pages.get("anonymousUsersPerMonth")),
            pay_as_you_go: pages.get("payAsYouGo").bool().unwrap_or(false),
            per_app: count(pages.get("perAppLicences")),
            per_user: count(pages.get("perUserLicences")),
            portal_logins: count(pages.get("legacyPortalAddOns").get("portalLogins")),
            portal_views: count(pages.get("legacyPortalAddOns").get("portalViews")),
            enterprise: licensing
                .get("dynamics365EnterpriseUseRights")
                .bool()
                .unwrap_or(false),
        }
    }

    /// Whether any subscription capacity is allocated to the environment.
    fn has_subscription_capacity(&self) -> bool {
        self.authenticated > 0
            || self.anonymous > 0
            || self.portal_logins > 0
            || self.portal_views > 0
    }

    /// Subscription capacity allocated to the environment, described for a message
    /// (empty exactly when [`Licensing::has_subscription_capacity`] is false).
    fn subscription_capacity(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.authenticated > 0 {
            parts.push(format!(
                "{} authenticated users per month",
                self.authenticated
            ));
        }
        if self.anonymous > 0 {
            parts.push(format!("{} anonymous users per month", self.anonymous));
        }
        if self.portal_logins > 0 {
            parts.push(format!(
                "the legacy `PortalLogins` add-on ({})",
                self.portal_logins
            ));
        }
        if self.portal_views > 0 {
            parts.push(format!(
                "the legacy `PortalViews` add-on ({})",
                self.portal_views
            ));
        }
        parts
    }

    /// Licences that give internal users rights to use sites.
    fn user_rights(&self) -> bool {
        self.per_app > 0 || self.per_user > 0 || self.enterprise
    }

    /// Capacity for users who sign in from outside the organisation.
    fn external_sign_ins(&self) -> bool {
        self.pay_as_you_go || self.authenticated > 0 || self.portal_logins > 0
    }
}

/// The deepest of `pointers` that exists, else the document.
fn deepest<'d>(doc: &'d Doc<'d>, pointers: &[&str]) -> Node<'d> {
    pointers
        .iter()
        .map(|pointer| doc.at(pointer))
        .find(Node::exists)
        .unwrap_or_else(|| doc.root())
}

fn join(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

struct CustomerPortalLicensing;

impl Policy for CustomerPortalLicensing {
    type Settings = Settings;

    const INFO: Info = Info {
        name: "customer-portal-licensing",
        version: env!("CARGO_PKG_VERSION"),
        description: "The environment has Power Pages capacity or use rights for the Customer \
                      portal (capacity packs, per-app or per-user licences, Dynamics 365 \
                      enterprise use rights, legacy portal add-ons, or pay-as-you-go), and does \
                      not mix pay-as-you-go with subscription capacity.",
        rules: &[LICENSED],
        documents: &[Need::required("environment")],
        settings_schema: Some(include_str!("../settings.schema.json")),
    };

    fn evaluate(input: &Input<'_>, settings: &Settings) -> Result<Vec<Finding>, EvaluationError> {
        let env = input.document("environment")?;
        let node = env.at("/licensing");
        if !node.exists() {
            return Ok(vec![
                env.root()
                    .finding(
                        &LICENSED,
                        "the snapshot has no `licensing`: preflight cannot tell whether the \
                         environment has Power Pages capacity or use rights",
                    )
                    .remediation(
                        "export the snapshot again with the environment's Power Pages capacity \
                         (Power Platform admin center › Resources › Capacity › Add-ons) and \
                         licences",
                    ),
            ]);
        }
        let licensing = Licensing::read(&node);
        let mut findings = Vec::new();

        if licensing.pay_as_you_go && licensing.has_subscription_capacity() {
            let capacity = licensing.subscription_capacity();
            findings.push(
                env.at("/licensing/powerPages/payAsYouGo")
                    .finding(
                        &LICENSED,
                        format!(
                            "the environment is billed pay-as-you-go and also has subscription \
                             capacity allocated ({}): a pay-as-you-go environment cannot use \
                             subscription capacity",
                            join(&capacity)
                        ),
                    )
                    .remediation(
                        "choose one: remove the environment from its pay-as-you-go billing \
                         policy, or take the subscription capacity back from it (Power Platform \
                         admin center › Resources › Capacity › Add-ons) and give it to an \
                         environment that is not pay-as-you-go",
                    ),
            );
        } else if !licensing.pay_as_you_go
            && !licensing.has_subscription_capacity()
            && !licensing.user_rights()
        {
            findings.push(
                deepest(env, &["/licensing/powerPages", "/licensing"])
                    .finding(
                        &LICENSED,
                        "the environment has no Power Pages capacity or use rights: no \
                         authenticated or anonymous users capacity, no legacy portal add-ons \
                         (`PortalLogins`, `PortalViews`), no per-app or per-user licences, no \
                         Dynamics 365 enterprise use rights, and it is not pay-as-you-go",
                    )
                    .remediation(
                        "allocate Power Pages authenticated users capacity (packs of 100, at \
                         least 25 per environment) to the environment in Power Platform admin \
                         center › Resources › Capacity › Add-ons, or link it to a pay-as-you-go \
                         billing policy",
                    ),
            );
        } else if settings.external_users && !licensing.external_sign_ins() {
            let what = if licensing.user_rights() {
                "only internal use rights (per-app or per-user licences, Dynamics 365 enterprise \
                 use rights)"
            } else {
                "anonymous users capacity only"
            };
            findings.push(
                deepest(
                    env,
                    &[
                        "/licensing/powerPages/authenticatedUsersPerMonth",
                        "/licensing/powerPages",
                        "/licensing",
                    ],
                )
                .finding(
                    &LICENSED,
                    format!(
                        "the environment has {what} and no authenticated users capacity: the \
                         customers who sign in to the Customer portal are external users, whom \
                         these do not cover [inference]"
                    ),
                )
                .severity(Severity::Warning)
                .remediation(
                    "allocate authenticated users capacity (packs of 100, at least 25 per \
                     environment) to the environment, or set `externalUsers` to false in the \
                     `customer-portal-licensing` settings when only licensed employees use the \
                     site",
                ),
            );
        }

        for (member, value, minimum, kind) in [
            (
                "authenticatedUsersPerMonth",
                licensing.authenticated,
                MIN_AUTHENTICATED,
                "authenticated",
            ),
            (
                "anonymousUsersPerMonth",
                licensing.anonymous,
                MIN_ANONYMOUS,
                "anonymous",
            ),
        ] {
            if value > 0 && value < minimum {
                findings.push(
                    env.at(&format!("/licensing/powerPages/{member}"))
                        .finding(
                            &LICENSED,
                            format!(
                                "{value} {kind} users per month are allocated to the environment, \
                                 fewer than the minimum of {minimum} that can be allocated to an \
                                 environment"
                            ),
                        )
                        .severity(Severity::Warning)
                        .remediation(format!(
                            "allocate at least {minimum} {kind} users per month to the environment \
                             (Power Platform admin center › Resources › Capacity › Add-ons), then \
                             export the snapshot again"
                        )),
                );
            }
        }
        Ok(findings)
    }
}

preflight_sdk::export_policy!(CustomerPortalLicensing);
