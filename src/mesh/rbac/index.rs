//! A pre-filter for the verdict path: the policies of one rule set grouped by the peers they can
//! match. Some policies can only match a known, finite set of URI SANs (istiod's
//! `source.principal` values without `*`) or peers of known namespaces (istiod's `namespaces`
//! values without `*`, the regex `.*/ns/NS/.*`). Requests from other peers skip them. Every other
//! policy is always evaluated.

use std::collections::{BTreeSet, HashMap};

use super::engine::{CPolicy, CPrin, CStr, CStrKind};

/// The policy filter for one rule set. Indices refer to the rule set's policies, which stay in
/// policy-id order.
#[derive(Debug, Default)]
pub(super) struct PeerIndex {
    /// Policies that can match the listed peer principal, ascending.
    by_principal: HashMap<String, Vec<usize>>,
    /// The unindexed policies merged with those that can match a peer of the listed namespace,
    /// ascending, so a request merges only two lists. The copies cost one index per unindexed
    /// policy and indexed namespace.
    by_namespace: HashMap<String, Vec<usize>>,
    /// Policies the index cannot exclude for any request, ascending.
    unindexed: Vec<usize>,
    /// Every policy, for a peer in several indexed namespaces.
    all: Vec<usize>,
}

impl PeerIndex {
    /// Groups the policies, given in policy-id order, by the peer principals and namespaces they
    /// can match.
    pub fn new<'p>(policies: impl IntoIterator<Item = &'p CPolicy>) -> Self {
        let mut index = Self::default();
        let mut by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, policy) in policies.into_iter().enumerate() {
            index.all.push(i);
            let Some(required) = required_peers(policy) else {
                index.unindexed.push(i);
                continue;
            };
            // A principal in one of the namespaces finds the policy through that namespace's
            // group, so the two lists a request merges never hold the same policy.
            let principals = required.principals.iter().filter(|principal| {
                !peer_namespaces(principal).any(|ns| required.namespaces.contains(ns))
            });
            for principal in principals {
                let group = index.by_principal.entry((*principal).to_owned());
                group.or_default().push(i);
            }
            for namespace in &required.namespaces {
                by_namespace
                    .entry((*namespace).to_owned())
                    .or_default()
                    .push(i);
            }
        }
        for (namespace, mut group) in by_namespace {
            group.extend_from_slice(&index.unindexed);
            group.sort_unstable();
            index.by_namespace.insert(namespace, group);
        }
        index
    }

    /// Returns, in ascending order and without repeats, the policies that can match a request from
    /// `peer` (the mTLS peer's URI SAN, `None` for plaintext). A policy left out cannot match that
    /// request.
    pub fn candidates(&self, peer: Option<&str>) -> Candidates<'_> {
        let Some(peer) = peer else {
            return Candidates::new(&self.unindexed, &[]);
        };
        let principal_group = self.by_principal.get(peer).map_or(&[][..], Vec::as_slice);
        let mut base = self.unindexed.as_slice();
        if !self.by_namespace.is_empty() {
            let mut found: Option<&str> = None;
            for namespace in peer_namespaces(peer) {
                let Some(group) = self.by_namespace.get(namespace) else {
                    continue;
                };
                match found {
                    None => {
                        found = Some(namespace);
                        base = group;
                    }
                    Some(first) if first == namespace => {}
                    // A peer in two indexed namespaces is rare enough to try every policy.
                    Some(_) => return Candidates::new(&self.all, &[]),
                }
            }
        }
        Candidates::new(base, principal_group)
    }
}

/// The merge of two ascending, disjoint index lists.
pub(super) struct Candidates<'i> {
    first: &'i [usize],
    second: &'i [usize],
}

impl<'i> Candidates<'i> {
    fn new(first: &'i [usize], second: &'i [usize]) -> Self {
        Self { first, second }
    }
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_second = match (self.first.first(), self.second.first()) {
            (Some(a), Some(b)) => b < a,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let list = if take_second {
            &mut self.second
        } else {
            &mut self.first
        };
        let (head, rest) = list.split_first()?;
        *list = rest;
        Some(*head)
    }
}

/// Returns the namespaces that istiod's namespace regex `.*/ns/NS/.*` finds in a peer principal:
/// for each `/ns/` in it, overlapping ones included, the text up to the next `/`. A principal
/// containing `\n` gives none, because `.` does not match `\n`. For a namespace without `/`, the
/// regex matches the principal exactly when this returns the namespace.
fn peer_namespaces(principal: &str) -> impl Iterator<Item = &str> {
    let mut from = if principal.contains('\n') {
        principal.len()
    } else {
        0
    };
    std::iter::from_fn(move || {
        let at = from + principal.get(from..)?.find("/ns/")?;
        // `/` is one byte, so the next search starts on a character boundary.
        from = at + 1;
        let rest = &principal[at + 4..];
        // Without a later `/` no later `/ns/` exists either.
        rest.find('/').map(|end| &rest[..end])
    })
}

/// The peers a policy can match: a request matches it only if its peer principal is one of
/// `principals` or one of the peer's namespaces (see `peer_namespaces`) is in `namespaces`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Required<'p> {
    principals: BTreeSet<&'p str>,
    namespaces: BTreeSet<&'p str>,
}

impl<'p> Required<'p> {
    fn principal(principal: &'p str) -> Self {
        Self {
            principals: BTreeSet::from([principal]),
            ..Self::default()
        }
    }

    fn namespace(namespace: &'p str) -> Self {
        Self {
            namespaces: BTreeSet::from([namespace]),
            ..Self::default()
        }
    }

    /// Adds the peers of `other`, for an OR of the two conditions.
    fn extend(&mut self, other: Self) {
        self.principals.extend(other.principals);
        self.namespaces.extend(other.namespaces);
    }

    /// Returns a condition that every peer meeting both `self` and `other` meets, for an AND. A
    /// principal stays when the other side names it or one of its namespaces. A peer can have
    /// several namespaces, so two namespace sets are not intersected. Either set alone is a
    /// necessary condition, and the smaller one is kept.
    fn both(self, other: Self) -> Self {
        let named_by = |principal: &&str, side: &Self| {
            side.principals.contains(principal)
                || peer_namespaces(principal).any(|ns| side.namespaces.contains(ns))
        };
        let mut principals: BTreeSet<&str> = self
            .principals
            .iter()
            .filter(|p| named_by(p, &other))
            .copied()
            .collect();
        principals.extend(other.principals.iter().filter(|p| named_by(p, &self)));
        let namespaces = if self.namespaces.is_empty() || other.namespaces.is_empty() {
            BTreeSet::new()
        } else if self.namespaces.len() <= other.namespaces.len() {
            self.namespaces
        } else {
            other.namespaces
        };
        Self {
            principals,
            namespaces,
        }
    }
}

/// Returns the peers a request must come from for the policy to match, or `None` when the policy
/// does not limit them to known principals or namespaces. The principal list is an OR, so every
/// entry must be limited. An empty list matches nothing and gives the empty condition.
fn required_peers(policy: &CPolicy) -> Option<Required<'_>> {
    let mut all = Required::default();
    for principal in &policy.principals {
        all.extend(required(principal)?);
    }
    Some(all)
}

/// Returns the peers one principal matcher requires. The condition is a necessary one, so `And`
/// combines its limited children and `Or` takes the union when all of its children are limited.
fn required(p: &CPrin) -> Option<Required<'_>> {
    match p {
        CPrin::Authenticated(Some(m)) => peer_matcher(m),
        CPrin::FilterState { key, m } if key == "io.istio.peer_principal" => peer_matcher(m),
        // Matches nothing, so no request needs to try it.
        CPrin::Any(false) => Some(Required::default()),
        CPrin::Or(children) => {
            let mut union = Required::default();
            for child in children {
                union.extend(required(child)?);
            }
            Some(union)
        }
        CPrin::And(children) => children.iter().filter_map(required).reduce(Required::both),
        _ => None,
    }
}

/// Returns the peers a matcher on the peer principal can match: the value of a case-sensitive
/// exact matcher, or the namespace of istiod's `.*/ns/NS/.*` regex when `NS` has no `/`. Other
/// matchers match an open set of values and give `None`.
fn peer_matcher(m: &CStr) -> Option<Required<'_>> {
    if m.ignore_case {
        return None;
    }
    match &m.kind {
        CStrKind::Exact(s) => Some(Required::principal(s)),
        CStrKind::Regex(_, re) => {
            let namespace = re
                .contained_literal()?
                .strip_prefix("/ns/")?
                .strip_suffix('/')?;
            (!namespace.contains('/')).then(|| Required::namespace(namespace))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::regex_glob::FullRegex;
    use super::*;

    fn exact_peer(p: &str) -> CPrin {
        CPrin::Authenticated(Some(CStr {
            kind: CStrKind::Exact(p.to_owned()),
            ignore_case: false,
        }))
    }

    fn regex_peer(pattern: &str) -> CPrin {
        CPrin::Authenticated(Some(CStr {
            kind: CStrKind::Regex(
                pattern.to_owned(),
                FullRegex::new(pattern).expect("pattern compiles"),
            ),
            ignore_case: false,
        }))
    }

    /// Returns istiod's matcher for `namespaces: [ns]`.
    fn namespace_peer(ns: &str) -> CPrin {
        regex_peer(&format!(".*/ns/{ns}/.*"))
    }

    fn policy(principals: Vec<CPrin>) -> CPolicy {
        CPolicy {
            permissions: Vec::new(),
            principals,
        }
    }

    /// Returns the required principals and namespaces of a policy with these principals.
    fn required_of(principals: Vec<CPrin>) -> Option<(Vec<String>, Vec<String>)> {
        let owned = |set: BTreeSet<&str>| set.into_iter().map(str::to_owned).collect();
        required_peers(&policy(principals)).map(|r| (owned(r.principals), owned(r.namespaces)))
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn principals(values: &[&str]) -> (Vec<String>, Vec<String>) {
        (strings(values), Vec::new())
    }

    fn namespaces(values: &[&str]) -> (Vec<String>, Vec<String>) {
        (Vec::new(), strings(values))
    }

    #[test]
    fn exact_principals_are_required() {
        let got = required_of(vec![CPrin::Or(vec![exact_peer("a"), exact_peer("b")])]);
        assert_eq!(got, Some(principals(&["a", "b"])));
    }

    #[test]
    fn and_intersects_limited_children() {
        let got = required_of(vec![CPrin::And(vec![
            CPrin::Any(true),
            CPrin::Or(vec![exact_peer("a"), exact_peer("b")]),
            exact_peer("b"),
        ])]);
        assert_eq!(got, Some(principals(&["b"])));
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
            CPrin::Not(Box::new(namespace_peer("a"))),
            CPrin::Or(vec![exact_peer("a"), CPrin::Any(true)]),
            CPrin::Or(vec![namespace_peer("a"), CPrin::Any(true)]),
            CPrin::And(Vec::new()),
            // istiod's `namespaces: ["team-*"]`.
            namespace_peer("team-.*"),
            namespace_peer("a/b"),
            regex_peer(".+/ns/a/.*"),
            regex_peer(".*/ns/a/.+"),
            regex_peer("spiffe://.+/ns/a/(.+/|)sa/b(/.+)?"),
            regex_peer(".*/ns/a.*"),
        ] {
            assert_eq!(required_of(vec![open]), None);
        }
    }

    #[test]
    fn namespaces_are_required() {
        let got = required_of(vec![CPrin::Or(vec![
            namespace_peer("a"),
            namespace_peer("team\\.x"),
        ])]);
        assert_eq!(got, Some(namespaces(&["a", "team.x"])));
        // istiod's `namespaces` and `principals` in two `from` entries.
        let got = required_of(vec![
            namespace_peer("a"),
            exact_peer("spiffe://td/ns/b/sa/x"),
        ]);
        assert_eq!(
            got,
            Some((strings(&["spiffe://td/ns/b/sa/x"]), strings(&["a"])))
        );
    }

    #[test]
    fn and_keeps_principals_of_required_namespaces() {
        // istiod's `principals` and `namespaces` in one source.
        let got = required_of(vec![CPrin::And(vec![
            CPrin::Or(vec![
                exact_peer("spiffe://td/ns/a/sa/x"),
                exact_peer("spiffe://td/ns/b/sa/x"),
            ]),
            CPrin::Or(vec![namespace_peer("a"), namespace_peer("c")]),
        ])]);
        assert_eq!(got, Some(principals(&["spiffe://td/ns/a/sa/x"])));
    }

    #[test]
    fn and_of_namespaces_keeps_the_smaller_set() {
        // A peer `td/ns/a/x/ns/b/y` is in both `a` and `b`, so an intersection would lose it.
        let got = required_of(vec![CPrin::And(vec![
            CPrin::Or(vec![namespace_peer("a"), namespace_peer("c")]),
            namespace_peer("b"),
            CPrin::Not(Box::new(namespace_peer("c"))),
        ])]);
        assert_eq!(got, Some(namespaces(&["b"])));
        let got = required_of(vec![CPrin::And(vec![
            CPrin::Or(vec![namespace_peer("a"), exact_peer("p")]),
            exact_peer("q"),
        ])]);
        assert_eq!(got, Some(principals(&[])));
    }

    #[test]
    fn every_entry_must_be_limited() {
        assert_eq!(required_of(vec![exact_peer("a"), CPrin::Any(true)]), None);
        assert_eq!(
            required_of(vec![namespace_peer("a"), CPrin::Any(true)]),
            None
        );
        assert_eq!(
            required_of(vec![exact_peer("a"), exact_peer("b")]),
            Some(principals(&["a", "b"]))
        );
    }

    #[test]
    fn nothing_matches_no_principals() {
        assert_eq!(required_of(Vec::new()), Some(principals(&[])));
        assert_eq!(required_of(vec![CPrin::Any(false)]), Some(principals(&[])));
    }

    #[test]
    fn peer_namespaces_as_the_regex_finds_them() {
        fn of(p: &str) -> Vec<&str> {
            peer_namespaces(p).collect()
        }
        assert_eq!(of("spiffe://td/ns/a/sa/x"), ["a"]);
        assert_eq!(of("spiffe://td/ns/ns/a/sa/x"), ["ns", "a"]);
        assert_eq!(of("spiffe://td/ns/a/x/ns/b/y"), ["a", "b"]);
        assert_eq!(of("spiffe://td/ns//sa/x"), [""]);
        assert_eq!(of("spiffe://td/ns/caf\u{e9}/sa/x"), ["caf\u{e9}"]);
        assert!(of("spiffe://td/ns/a").is_empty());
        assert!(of("spiffe://td/ns/a/sa/x\n").is_empty());
        assert!(of("").is_empty());
    }

    #[test]
    fn peer_namespaces_agree_with_the_regex() {
        let peers = [
            "spiffe://td/ns/a/sa/x",
            "spiffe://td/ns/ns/a/sa/x",
            "spiffe://td/ns/a/x/ns/b/y",
            "/ns/a/",
            "/ns/a",
            "ns/a/",
            "spiffe://td/ns/a/sa/x\n",
            "spiffe://td/ns//sa/x",
        ];
        for ns in ["a", "b", "ns", "x", "sa", ""] {
            let regex = FullRegex::new(&format!(".*/ns/{ns}/.*")).expect("pattern compiles");
            for peer in peers {
                assert_eq!(
                    peer_namespaces(peer).any(|found| found == ns),
                    regex.is_match(peer),
                    "namespace {ns:?} on peer {peer:?}"
                );
            }
        }
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
        let index = PeerIndex::new(&policies);
        let of = |peer| index.candidates(peer).collect::<Vec<_>>();
        assert_eq!(of(Some("a")), [0, 1, 3, 4]);
        assert_eq!(of(Some("b")), [0, 2, 3, 4]);
        assert_eq!(of(Some("c")), [0, 3]);
        assert_eq!(of(None), [0, 3]);
    }

    #[test]
    fn candidates_of_namespace_groups() {
        let peer_a = "spiffe://td/ns/a/sa/x";
        let policies = [
            policy(vec![namespace_peer("b")]),
            policy(vec![CPrin::Any(true)]),
            policy(vec![namespace_peer("a")]),
            policy(vec![CPrin::Or(vec![
                namespace_peer("a"),
                exact_peer(peer_a),
            ])]),
            policy(vec![exact_peer(peer_a)]),
            policy(vec![namespace_peer("c")]),
            policy(vec![namespace_peer("d")]),
        ];
        let index = PeerIndex::new(&policies);
        let of = |peer| index.candidates(peer).collect::<Vec<_>>();
        assert_eq!(of(Some(peer_a)), [1, 2, 3, 4]);
        assert_eq!(of(Some("spiffe://td/ns/a/sa/y")), [1, 2, 3]);
        assert_eq!(of(Some("spiffe://td/ns/b/sa/x")), [0, 1]);
        assert_eq!(of(Some("spiffe://td/ns/a/sa/x\n")), [1]);
        assert_eq!(of(Some("spiffe://td/ns/d/sa/x")), [1, 6]);
        assert_eq!(of(Some("spiffe://td/ns/e/sa/x")), [1]);
        assert_eq!(of(None), [1]);
        assert_eq!(of(Some("spiffe://td/ns/a/x/ns/a/y")), [1, 2, 3]);
        // A peer in two indexed namespaces tries every policy.
        assert_eq!(of(Some("spiffe://td/ns/a/x/ns/b/y")), [0, 1, 2, 3, 4, 5, 6]);
    }
}
