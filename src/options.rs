//! The switches for SEMANTICS.md's decisions D1–D7, in one validated struct.
//!
//! Where Azure's documentation is silent, SEMANTICS.md picks a default; each choice that
//! reasonable people could make differently is a switch here, a CLI flag, and tested both
//! ways.

/// D1: how rules of several network managers are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagerPrecedence {
    /// Managers in tiers by the height of the scope that reaches the VNet (root MG first,
    /// subscriptions last); priority within a tier.
    #[default]
    Tiered,
    /// All managers' rules by priority alone.
    Merged,
}

/// D3: what `Any` / `*` protocol matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnyProtocol {
    /// Every IP protocol.
    #[default]
    All,
    /// Only TCP, UDP, ICMP and ICMPv6 (the NSG documentation's reading).
    TcpUdpIcmp,
}

/// D4: what an absent or empty port or address list matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyMatch {
    /// Anything.
    #[default]
    Any,
    /// Nothing.
    None,
}

/// D5: what an AlwaysAllow admin rule skips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlwaysAllowScope {
    /// Only the NSGs of its own side.
    #[default]
    Side,
    /// A source-side AlwaysAllow also skips the destination NSGs (never its admin rules).
    Path,
}

/// D7: what a level with no NSG does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoNsg {
    /// Passes traffic.
    #[default]
    Pass,
    /// Denies Internet-inbound traffic to a NIC with a Standard public IP when neither its
    /// subnet nor the NIC has an NSG (the one case Azure documents).
    Deny,
}

/// Every switch of SEMANTICS D1–D7 plus input leniency.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Options {
    /// D1.
    pub manager_precedence: ManagerPrecedence,
    /// D2: with no deployment status in the snapshot, treat everything as deployed.
    pub assume_deployed: bool,
    /// D3.
    pub any_protocol: AnyProtocol,
    /// D4.
    pub empty_match: EmptyMatch,
    /// D5.
    pub always_allow_scope: AlwaysAllowScope,
    /// D6: evaluate admin rules on every packet in both directions (replay only).
    pub admin_stateless: bool,
    /// D7.
    pub no_nsg: NoNsg,
    /// An unknown service tag matches nothing (with a warning) instead of being an error.
    pub lenient: bool,
}

impl Options {
    /// SEMANTICS.md's defaults.
    pub fn new() -> Options {
        Options {
            assume_deployed: true,
            ..Options::default()
        }
    }
}
