//! The match sets of a policy's rules, built once and shared by every analysis.

use crate::flowspace::rule::asg_addresses;
use crate::flowspace::RuleSpace;
use crate::model::{AddrSet, ResourceId};
use crate::resolve::{Policy, ResolvedRule};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Rule match sets by (VNet whose tags resolved the rule, rule id): a rule id resolved in
/// one VNet is one [`ResolvedRule`], wherever it is listed.
pub(crate) struct Spaces<'p> {
    /// The policy.
    pub policy: &'p Policy,
    asgs: Vec<AddrSet>,
    cache: RefCell<HashMap<(usize, ResourceId), Rc<RuleSpace>>>,
}

impl<'p> Spaces<'p> {
    pub fn new(policy: &'p Policy) -> Spaces<'p> {
        Spaces {
            policy,
            asgs: asg_addresses(&policy.snapshot),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The match set of `rule` as resolved in VNet `vnet`.
    pub fn rule(&self, vnet: usize, rule: &ResolvedRule) -> Rc<RuleSpace> {
        let key = (vnet, rule.rule.id.clone());
        if let Some(space) = self.cache.borrow().get(&key) {
            return Rc::clone(space);
        }
        let space = Rc::new(RuleSpace::new(
            rule,
            &self.asgs,
            self.policy.options.any_protocol,
        ));
        self.cache.borrow_mut().insert(key, Rc::clone(&space));
        space
    }
}
