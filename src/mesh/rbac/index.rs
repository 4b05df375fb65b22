//! A pre-filter for the verdict path: the policies of one rule set grouped by the exact peer
//! principals they require. A policy whose principals can only match a known, finite set of URI
//! SANs (istiod's `source.principal` values without `*`) can only match a request from one of
//! them, so the other requests skip it. Every other policy is always evaluated.

use std::collections::{BTreeSet, HashMap};

use super::engine::{CPolicy, CPrin, CStr, CStrKind};

/// The policy filter for one rule set. Indices refer to the rule set's policies, which stay in
/// policy-id order.
#[derive(Debug, Default)]
pub(super) struct PrincipalIndex {
    /// Policies that can only match one of the listed peer principals, ascending.
    by_principal: HashMap<String, Vec<usize>>,
    /// Policies the index cannot exclude for any request, ascending.
    unindexed: Vec<usize>,
}

impl PrincipalIndex {
    pub fn new<'p>(policies: impl IntoIterator<Item = &'p CPolicy>) -> Self {
        let mut index = Self::default();
        for (i, policy) in policies.into_iter().enumerate() {
            match required_principals(policy) {
                Some(principals) => {
                    for principal in principals {
                        index
                            .by_principal
                            .entry(principal.to_owned())
                            .or_default()
                            .push(i);
                    }
                }
                None => index.unindexed.push(i),
            }
        }
        index
    }

    /// Returns, in ascending order, the policies that can match a request from `peer` (the mTLS
    /// peer's URI SAN, `None` for plaintext). A policy left out cannot match that request.
    pub fn candidates(&self, peer: Option<&str>) -> Candidates<'_> {
        let indexed = peer
            .and_then(|p| self.by_principal.get(p))
            .map_or(&[][..], Vec::as_slice);
        Candidates {
            unindexed: &self.unindexed,
            indexed,
        }
    }
}

/// The merge of two ascending, disjoint index lists.
pub(super) struct Candidates<'i> {
    unindexed: &'i [usize],
    indexed: &'i [usize],
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_indexed = match (self.unindexed.first(), self.indexed.first()) {
            (Some(u), Some(i)) => i < u,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let list = if take_indexed {
            &mut self.indexed
        } else {
            &mut self.unindexed
        };
        let (first, rest) = list.split_first()?;
        *list = rest;
        Some(*first)
    }
}

/// Returns the peer principals a request must have for the policy to match, or `None` when the
/// policy does not limit them to a finite set. The principal list is an OR, so every entry must be
/// limited. An empty list matches nothing and gives the empty set.
fn required_principals(policy: &CPolicy) -> Option<BTreeSet<&str>> {
    let mut all = BTreeSet::new();
    for principal in &policy.principals {
        all.extend(required(principal)?);
    }
    Some(all)
}

/// Returns the peer principals one principal matcher requires. The set is a necessary condition,
/// so `And` keeps the intersection of its limited children and `Or` the union when all of its
/// children are limited.
fn required(p: &CPrin) -> Option<BTreeSet<&str>> {
    match p {
        CPrin::Authenticated(Some(m)) => exact(m).map(|s| BTreeSet::from([s])),
        CPrin::FilterState { key, m } if key == "io.istio.peer_principal" => {
            exact(m).map(|s| BTreeSet::from([s]))
        }
        // Matches nothing, so no request needs to try it.
        CPrin::Any(false) => Some(BTreeSet::new()),
        CPrin::Or(children) => {
            let mut union = BTreeSet::new();
            for child in children {
                union.extend(required(child)?);
            }
            Some(union)
        }
        CPrin::And(children) => children
            .iter()
            .filter_map(required)
            .reduce(|a, b| a.intersection(&b).copied().collect()),
        _ => None,
    }
}

/// Returns the value of a case-sensitive exact matcher, or `None` for the other kinds, which match
/// an open set of values.
fn exact(m: &CStr) -> Option<&str> {
    match &m.kind {
        CStrKind::Exact(s) if !m.ignore_case => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_peer(p: &str) -> CPrin {
        CPrin::Authenticated(Some(CStr {
            kind: CStrKind::Exact(p.to_owned()),
            ignore_case: false,
        }))
    }

    fn policy(principals: Vec<CPrin>) -> CPolicy {
        CPolicy {
            permissions: Vec::new(),
            principals,
        }
    }

    fn required_of(principals: Vec<CPrin>) -> Option<Vec<String>> {
        required_principals(&policy(principals))
            .map(|set| set.into_iter().map(str::to_owned).collect())
    }

    #[test]
    fn exact_principals_are_required() {
        let got = required_of(vec![CPrin::Or(vec![exact_peer("a"), exact_peer("b")])]);
        assert_eq!(got, Some(vec!["a".to_owned(), "b".to_owned()]));
    }

    #[test]
    fn and_intersects_limited_children() {
        let got = required_of(vec![CPrin::And(vec![
            CPrin::Any(true),
            CPrin::Or(vec![exact_peer("a"), exact_peer("b")]),
            exact_peer("b"),
        ])]);
        assert_eq!(got, Some(vec!["b".to_owned()]));
    }

    #[test]
    fn open_matchers_are_unindexed() {
        let ignore_case = CPrin::Authenticated(Some(CStr {
            kind: CStrKind::Exact("a".to_owned()),
            ignore_case: true,
        }));
        let prefix = CPrin::Authenticated(Some(CStr {
            kind: CStrKind::Prefix("spiffe://".to_owned()),
            ignore_case: false,
        }));
        for open in [
            CPrin::Any(true),
            CPrin::Authenticated(None),
            ignore_case,
            prefix,
            CPrin::Not(Box::new(exact_peer("a"))),
            CPrin::Or(vec![exact_peer("a"), CPrin::Any(true)]),
            CPrin::And(Vec::new()),
        ] {
            assert_eq!(required_of(vec![open]), None);
        }
    }

    #[test]
    fn every_entry_must_be_limited() {
        assert_eq!(required_of(vec![exact_peer("a"), CPrin::Any(true)]), None);
        assert_eq!(
            required_of(vec![exact_peer("a"), exact_peer("b")]),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn nothing_matches_no_principals() {
        assert_eq!(required_of(Vec::new()), Some(Vec::new()));
        assert_eq!(required_of(vec![CPrin::Any(false)]), Some(Vec::new()));
    }

    #[test]
    fn candidates_merge_in_order() {
        let policies = [
            policy(vec![CPrin::Any(true)]),
            policy(vec![exact_peer("a")]),
            policy(vec![exact_peer("b")]),
            policy(vec![CPrin::Any(true)]),
            policy(vec![CPrin::Or(vec![exact_peer("a"), exact_peer("b")])]),
            policy(Vec::new()),
        ];
        let index = PrincipalIndex::new(&policies);
        let of = |peer| index.candidates(peer).collect::<Vec<_>>();
        assert_eq!(of(Some("a")), [0, 1, 3, 4]);
        assert_eq!(of(Some("b")), [0, 2, 3, 4]);
        assert_eq!(of(Some("c")), [0, 3]);
        assert_eq!(of(None), [0, 3]);
    }
}
