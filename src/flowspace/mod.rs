//! Exact sets of flows: the algebra behind `secpath audit` and `secpath diff`.
//!
//! A flow is a 5-tuple: IP protocol (0–255), source and destination address (both IPv4 or
//! both IPv6) and, for TCP and UDP only, source and destination port. Questions such as
//! "can any flow reach this rule?" or "which flows change verdict?" are questions about
//! *sets* of flows far too large to enumerate, so they are answered symbolically:
//!
//! - [`FlowSet`] is a binary decision diagram over the header bits (biodivine-lib-bdd), the
//!   approach of header-space analysis and Batfish. Union, intersection, difference and
//!   emptiness are exact; the diagram of a rule table stays small because rules are
//!   prefixes and port ranges, which are short paths.
//! - [`Cube`] is a product of one interval set per field: what a rule is made of, what a
//!   person reads (`tcp 0.0.0.0/0:* -> 10.1.0.0/24:22`), and a cheap overlap filter that
//!   spares most BDD operations when rules are disjoint in some field.
//! - [`rule::RuleSpace`] is a resolved rule's match set, honouring D3 (what `Any` matches)
//!   and SEMANTICS §3.1: ports are ignored for protocols without ports, so a rule naming
//!   port 22 with protocol `*` matches every ICMP flow. Flows of such protocols are kept
//!   with every port value, so ports never split them.
//!
//! Why a BDD and not an exact cube algebra alone: subtracting cubes fragments them
//! (each difference may split a cube into up to ten pieces), so a chain of a few thousand
//! overlapping rules can produce millions of fragments, while the diagram of the same
//! set stays canonical and small. Cubes are kept for what they are good at: reading,
//! witnesses, and the quick "cannot overlap" test.

pub mod bdd;
pub mod cube;
pub mod decompose;
pub mod rule;

pub use bdd::FlowSet;
pub use cube::{Cube, Family, Ranges};
pub use decompose::Decomposition;
pub use rule::RuleSpace;
