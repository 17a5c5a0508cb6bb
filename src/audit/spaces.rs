//! The match sets of a policy's rules, built once and shared by every analysis.

use crate::flowspace::bdd::FieldCache;
use crate::flowspace::rule::asg_addresses;
use crate::flowspace::{Cube, RuleSpace};
use crate::model::{AddrSet, ResourceId};
use crate::resolve::{Policy, ResolvedRule};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Rule match sets by (VNet whose tags resolved the rule, rule id): a rule id resolved in
/// one VNet is one [`ResolvedRule`], wherever it is listed. Each distinct set is built
/// once: an NSG enforced in many VNets differs between them only in its rules naming
/// service tags, and rules everywhere share address sets and ports (see [`FieldCache`]).
pub(crate) struct Spaces<'p> {
    /// The policy.
    pub policy: &'p Policy,
    asgs: Vec<AddrSet>,
    cache: RefCell<HashMap<(usize, ResourceId), Rc<RuleSpace>>>,
    /// The same sets by their cubes.
    by_cubes: RefCell<HashMap<SmallVec<[Cube; 2]>, Rc<RuleSpace>>>,
    fields: RefCell<FieldCache>,
}

impl<'p> Spaces<'p> {
    pub fn new(policy: &'p Policy) -> Spaces<'p> {
        Spaces {
            policy,
            asgs: asg_addresses(&policy.snapshot),
            cache: RefCell::new(HashMap::new()),
            by_cubes: RefCell::new(HashMap::new()),
            fields: RefCell::new(FieldCache::default()),
        }
    }

    /// The match set of `rule` as resolved in VNet `vnet`.
    pub fn rule(&self, vnet: usize, rule: &ResolvedRule) -> Rc<RuleSpace> {
        let key = (vnet, rule.rule.id.clone());
        if let Some(space) = self.cache.borrow().get(&key) {
            return Rc::clone(space);
        }
        let cubes = RuleSpace::cubes_of(rule, &self.asgs, self.policy.options.any_protocol);
        let space = Rc::clone(
            self.by_cubes
                .borrow_mut()
                .entry(cubes.clone())
                .or_insert_with(|| {
                    Rc::new(RuleSpace::of_cubes_in(cubes, &mut self.fields.borrow_mut()))
                }),
        );
        self.cache.borrow_mut().insert(key, Rc::clone(&space));
        space
    }
}
