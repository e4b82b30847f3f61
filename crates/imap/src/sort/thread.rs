//! RFC 5256 3 threading: ORDEREDSUBJECT and REFERENCES, step by step as the RFC words them,
//! and the RFC 5256 4 THREAD response. Every walk over the tree is iterative: a chain of
//! 50,000 replies costs no stack.

use std::collections::HashMap;

use policy::collation;

use super::subject::base_subject;
use super::Message;

/// Most references of one message used for threading: the last ones (the nearest ancestors,
/// the parent last). RFC 5256 3 expects References truncated by MUAs anyway; the bound keeps the
/// tree of a folder within a fixed multiple of its size whatever the References hold.
pub const MAX_THREAD_REFERENCES: usize = 32;

/// The msg-ids in a field value, normalised (RFC 5256 3, REFERENCES: quoting must not make
/// two spellings of one Message ID differ): the text between `<` and `>`, without quotes,
/// backslashes and white space. A msg-id without `@` (RFC 5322 3.6.4) is not valid.
pub fn message_ids(text: &str) -> Vec<String> {
    let mut ids = vec![];
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            break;
        };
        let id: String = after[..close]
            .chars()
            .filter(|c| !matches!(c, '"' | '\\') && !c.is_whitespace())
            .collect();
        if !id.is_empty() && id.contains('@') {
            ids.push(id);
        }
        rest = &after[close + 1..];
    }
    ids
}

/// What threading reads of one message.
struct Facts {
    /// Casemapped base subject: equal subjects compare equal (RFC 5256 7, i;unicode-casemap).
    subject: String,
    reply: bool,
    date: i64,
    seq: usize,
    number: i64,
}

fn facts(messages: &[Message], uid: bool) -> Vec<Facts> {
    // Subjects repeat within threads: each distinct one is worked out once.
    let mut memo: HashMap<&str, (String, bool)> = HashMap::new();
    messages
        .iter()
        .map(|m| {
            let raw = m.record.subject.as_deref().unwrap_or("");
            let (subject, reply) = memo
                .entry(raw)
                .or_insert_with(|| {
                    let (base, reply) = base_subject(raw);
                    (collation::casemap(&base), reply)
                })
                .clone();
            Facts {
                subject,
                reply,
                date: m.sent_date(),
                seq: m.seq,
                number: m.number(uid),
            }
        })
        .collect()
}

/// RFC 5256 3 ORDEREDSUBJECT: messages grouped by base subject, each group in sent-date
/// order, groups in the order of their first message; the first message of a group is its
/// root, the others its children. Returns the THREAD response (without `* `).
pub fn ordered_subject(messages: &[Message], uid: bool) -> String {
    let facts = facts(messages, uid);
    let mut groups: Vec<Vec<usize>> = vec![];
    let mut by_subject: HashMap<&str, usize> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        let g = *by_subject.entry(&f.subject).or_insert_with(|| {
            groups.push(vec![]);
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let key = |i: &usize| (facts[*i].date, facts[*i].seq);
    for group in &mut groups {
        group.sort_by_key(key);
    }
    groups.sort_by_key(|g| key(&g[0]));
    let mut out = String::from("THREAD");
    if !groups.is_empty() {
        out.push(' ');
    }
    for group in groups {
        out.push('(');
        out.push_str(&facts[group[0]].number.to_string());
        match group.len() {
            1 => {}
            2 => out.push_str(&format!(" {}", facts[group[1]].number)),
            _ => {
                out.push(' ');
                for &child in &group[1..] {
                    out.push_str(&format!("({})", facts[child].number));
                }
            }
        }
        out.push(')');
    }
    out
}

/// A node of the REFERENCES tree: a message, or a dummy standing for one not in the result.
#[derive(Default)]
struct Node {
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn add(&mut self, message: Option<usize>) -> usize {
        self.nodes.push(Node {
            message,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes[n].message.is_none()
    }

    /// True when making `parent` the parent of `child` would make a loop: `parent` is
    /// `child` or one of its descendants (RFC 5256 3, REFERENCES 1.A).
    fn would_loop(&self, parent: usize, child: usize) -> bool {
        if parent == child {
            return true;
        }
        if self.nodes[child].children.is_empty() {
            return false;
        }
        let mut at = self.nodes[parent].parent;
        while let Some(n) = at {
            if n == child {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.nodes[child].parent.take() {
            self.nodes[parent].children.retain(|&c| c != child);
        }
    }

    /// Every node reachable from `roots`, children before their parent.
    fn post_order(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                out.push(n);
                continue;
            }
            stack.push((n, true));
            stack.extend(self.nodes[n].children.iter().rev().map(|&c| (c, false)));
        }
        out
    }
}

/// RFC 5256 3 REFERENCES. Returns the THREAD response (without `* `).
pub fn references(messages: &[Message], uid: bool) -> String {
    let facts = facts(messages, uid);
    let mut tree = Tree {
        nodes: Vec::with_capacity(messages.len() * 2),
    };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut node_of = |tree: &mut Tree, id: &str| -> usize {
        if let Some(&n) = by_id.get(id) {
            return n;
        }
        let n = tree.add(None);
        by_id.insert(id.to_string(), n);
        n
    };
    // (1) For each message, in mailbox order.
    for (i, m) in messages.iter().enumerate() {
        let own_id = m
            .record
            .message_id
            .as_deref()
            .and_then(|v| message_ids(v).into_iter().next());
        // A missing, invalid or duplicate Message-ID gets a unique one: a node of its own.
        let own = match own_id {
            Some(id) => {
                let n = node_of(&mut tree, &id);
                if tree.nodes[n].message.is_none() {
                    tree.nodes[n].message = Some(i);
                    n
                } else {
                    tree.add(Some(i))
                }
            }
            None => tree.add(Some(i)),
        };
        let mut refs = m
            .record
            .references
            .as_deref()
            .map(message_ids)
            .unwrap_or_default();
        if refs.len() > MAX_THREAD_REFERENCES {
            refs.drain(..refs.len() - MAX_THREAD_REFERENCES);
        }
        if refs.is_empty() {
            refs = m
                .record
                .in_reply_to
                .as_deref()
                .and_then(|v| message_ids(v).into_iter().next())
                .into_iter()
                .collect();
        }
        let ref_nodes: Vec<usize> = refs.iter().map(|r| node_of(&mut tree, r)).collect();
        // (1)(A) Each reference the parent of the next, unless the next already has a
        // parent or the link would make a loop.
        for pair in ref_nodes.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if tree.nodes[child].parent.is_none() && !tree.would_loop(parent, child) {
                tree.link(parent, child);
            }
        }
        // (1)(B) The last reference is the parent (none without references), replacing a
        // parent set from another message's truncated References.
        tree.unlink(own);
        if let Some(&parent) = ref_nodes.last() {
            if !tree.would_loop(parent, own) {
                tree.link(parent, own);
            }
        }
    }
    // (2) Every node without a parent is a child of the root.
    let roots: Vec<usize> = (0..tree.nodes.len())
        .filter(|&n| tree.nodes[n].parent.is_none())
        .collect();
    // (3) Prune dummies: childless ones go, the others give their children to their parent
    // (to the root only when there is one child).
    for n in tree.post_order(&roots) {
        let children = std::mem::take(&mut tree.nodes[n].children);
        let mut kept = Vec::with_capacity(children.len());
        for c in children {
            if tree.is_dummy(c) {
                let grandchildren = std::mem::take(&mut tree.nodes[c].children);
                for &g in &grandchildren {
                    tree.nodes[g].parent = Some(n);
                }
                kept.extend(grandchildren);
            } else {
                kept.push(c);
            }
        }
        tree.nodes[n].children = kept;
    }
    let mut top: Vec<usize> = vec![];
    for r in roots {
        if !tree.is_dummy(r) {
            top.push(r);
            continue;
        }
        match tree.nodes[r].children.len() {
            0 => {}
            1 => {
                let only = tree.nodes[r].children[0];
                tree.nodes[only].parent = None;
                top.push(only);
            }
            _ => top.push(r),
        }
    }
    // (4) Sort the top level by sent date (a dummy by its earliest child).
    let key = |tree: &Tree, n: usize| {
        let m = tree.nodes[n]
            .message
            .or_else(|| {
                tree.nodes[n]
                    .children
                    .first()
                    .and_then(|&c| tree.nodes[c].message)
            })
            .unwrap_or(0);
        (facts[m].date, facts[m].seq)
    };
    for &n in &top {
        if tree.is_dummy(n) {
            let mut children = std::mem::take(&mut tree.nodes[n].children);
            children.sort_by_key(|&c| key(&tree, c));
            tree.nodes[n].children = children;
        }
    }
    top.sort_by_key(|&n| key(&tree, n));
    // (5) Gather the top-level threads with the same base subject.
    let thread_subject = |tree: &Tree, n: usize| -> Option<usize> {
        tree.nodes[n].message.or_else(|| {
            tree.nodes[n]
                .children
                .first()
                .and_then(|&c| tree.nodes[c].message)
        })
    };
    let subject_of = |tree: &Tree, n: usize| -> &str {
        thread_subject(tree, n).map_or("", |m| facts[m].subject.as_str())
    };
    let reply = |tree: &Tree, n: usize| tree.nodes[n].message.is_some_and(|m| facts[m].reply);
    // (5)(A, B) The subject table.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &n in &top {
        let subject = subject_of(&tree, n);
        if subject.is_empty() {
            continue;
        }
        match table.get(subject).copied() {
            None => {
                table.insert(subject.to_string(), n);
            }
            Some(old) => {
                if !tree.is_dummy(old)
                    && (tree.is_dummy(n) || (reply(&tree, old) && !reply(&tree, n)))
                {
                    table.insert(subject.to_string(), n);
                }
            }
        }
    }
    // (5)(C) Merge threads with the same subject.
    let mut slots: Vec<Option<usize>> = top.iter().map(|&n| Some(n)).collect();
    let mut slot_of: HashMap<usize, usize> = top.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    for &n in &top {
        let Some(&slot) = slot_of.get(&n) else {
            continue; // no longer at the top level
        };
        let subject = subject_of(&tree, n).to_string();
        if subject.is_empty() {
            continue;
        }
        let Some(&old) = table.get(&subject) else {
            continue;
        };
        if old == n {
            continue;
        }
        let (n_dummy, old_dummy) = (tree.is_dummy(n), tree.is_dummy(old));
        if n_dummy && old_dummy {
            let children = std::mem::take(&mut tree.nodes[n].children);
            for &c in &children {
                tree.nodes[c].parent = Some(old);
            }
            tree.nodes[old].children.extend(children);
        } else if old_dummy || (reply(&tree, n) && !reply(&tree, old)) {
            tree.link(old, n);
        } else {
            let dummy = tree.add(None);
            let old_slot = slot_of
                .remove(&old)
                .expect("table entries are at the top level");
            slots[old_slot] = Some(dummy);
            slot_of.insert(dummy, old_slot);
            tree.link(dummy, old);
            tree.link(dummy, n);
            table.insert(subject, dummy);
        }
        slots[slot] = None;
        slot_of.remove(&n);
    }
    let mut top: Vec<usize> = slots.into_iter().flatten().collect();
    // (6) Sort every set of siblings by sent date, the deepest first; a dummy (only at the top
    // level) sorts by its first child.
    for n in tree.post_order(&top) {
        let mut children = std::mem::take(&mut tree.nodes[n].children);
        children.sort_by_key(|&c| key(&tree, c));
        tree.nodes[n].children = children;
    }
    top.sort_by_key(|&n| key(&tree, n));
    let mut out = String::from("THREAD");
    if !top.is_empty() {
        out.push(' ');
    }
    for n in top {
        write_thread(&tree, &facts, n, &mut out);
    }
    out
}

/// One `thread-list` (RFC 5256 5):
///
/// ```abnf
/// thread-list    = "(" (thread-members / thread-nested) ")"
/// thread-members = nz-number *(SP nz-number) [SP thread-nested]
/// thread-nested  = 2*thread-list
/// ```
fn write_thread(tree: &Tree, facts: &[Facts], root: usize, out: &mut String) {
    enum Step {
        Open(usize),
        Close,
    }
    let mut stack = vec![Step::Open(root)];
    while let Some(step) = stack.pop() {
        let n = match step {
            Step::Close => {
                out.push(')');
                continue;
            }
            Step::Open(n) => n,
        };
        out.push('(');
        stack.push(Step::Close);
        // A chain of only children is a run of numbers; a dummy writes no number.
        let mut at = n;
        let mut wrote = false;
        loop {
            if let Some(m) = tree.nodes[at].message {
                if wrote {
                    out.push(' ');
                }
                out.push_str(&facts[m].number.to_string());
                wrote = true;
            }
            match tree.nodes[at].children.as_slice() {
                [only] if tree.nodes[at].message.is_some() => at = *only,
                [] => break,
                children => {
                    if wrote {
                        out.push(' ');
                    }
                    for &c in children.iter().rev() {
                        stack.push(Step::Open(c));
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::SortRecord;

    #[test]
    fn message_ids_are_normalised() {
        // RFC 5256 3: these two MUST be the same Message ID.
        assert_eq!(
            message_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"),
            message_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>")
        );
        assert_eq!(
            message_ids("<a@x> (comment) <b@x>\t<no-at> <c@x>"),
            ["a@x", "b@x", "c@x"]
        );
        assert!(message_ids("garbage").is_empty());
    }

    fn record(id: &str, refs: &str, subject: &str, date: i64) -> SortRecord {
        SortRecord {
            sent_date: Some(date),
            subject: Some(subject.into()),
            message_id: (!id.is_empty()).then(|| format!("<{id}>")),
            references: (!refs.is_empty()).then(|| refs.to_string()),
            ..SortRecord::default()
        }
    }

    fn run(records: &[SortRecord], f: fn(&[Message], bool) -> String) -> String {
        let messages: Vec<Message> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Message {
                seq: i + 1,
                uid: 100 + i as i64,
                modseq: 1,
                internal_date: 0,
                size: 0,
                record: r,
            })
            .collect();
        f(&messages, false)
    }

    #[test]
    fn references_tree() {
        // 1 root; 2 and 3 reply to 1; 4 replies to 3; 5 references a message not here (a
        // dummy with one child: promoted); 6 and 7 are siblings under a missing parent (the
        // dummy stays: "((6)(7))").
        let records = [
            record("1@x", "", "Kế hoạch", 10),
            record("2@x", "<1@x>", "Re: Kế hoạch", 30),
            record("3@x", "<1@x>", "Re: Kế hoạch", 20),
            record("4@x", "<1@x> <3@x>", "Re: Re: Kế hoạch", 40),
            record("5@x", "<gone@x>", "Khác", 5),
            record("6@x", "<lost@x>", "Họp", 50),
            record("7@x", "<lost@x>", "Re: Họp", 60),
        ];
        // Top level by date: 5 (5), 1 (10), dummy (first child 6 at 50). Under 1: 3 (20)
        // before 2 (30); 4 under 3.
        assert_eq!(run(&records, references), "THREAD (5)(1 (3 4)(2))((6)(7))");
    }

    #[test]
    fn references_subject_merging() {
        // No references at all: threads gather by base subject (step 5). 1 is the original,
        // 2 a reply: 2 goes under 1. 3 and 4 are both originals of "Họp": a dummy holds both.
        let records = [
            record("1@x", "", "Công văn", 10),
            record("2@x", "", "Re: Công văn", 20),
            record("3@x", "", "Họp", 30),
            record("4@x", "", "HỌP", 40),
            record("5@x", "", "", 50),
            record("6@x", "", "", 60),
        ];
        // Empty subjects are never merged.
        assert_eq!(run(&records, references), "THREAD (1 2)((3)(4))(5)(6)");
    }

    #[test]
    fn references_loops_and_duplicates() {
        // 1 says its parent is 2, 2 says its parent is 1: the second link would make a loop.
        // 3 duplicates 1's Message-ID: it gets a unique one and stands alone.
        let records = [
            record("1@x", "<2@x>", "a", 10),
            record("2@x", "<1@x>", "b", 20),
            record("1@x", "", "c", 30),
        ];
        // Message 1 is linked under 2 (its References); when 2 is processed, making 1 the
        // parent of 2 would be a loop, so 2 stays a root with child 1.
        assert_eq!(run(&records, references), "THREAD (2 1)(3)");
        // A message referencing itself gets no parent.
        let selfish = [record("1@x", "<1@x>", "a", 10)];
        assert_eq!(run(&selfish, references), "THREAD (1)");
        assert_eq!(run(&[], references), "THREAD");
    }

    #[test]
    fn references_are_bounded() {
        // 2 names 1 as its first reference, then unknown ids: with MAX_THREAD_REFERENCES
        // references in all, 1 is still its ancestor (the dummies between are pruned away);
        // one more and the first reference is no longer read.
        let refs = |unknown: usize| {
            let mut r = String::from("<1@x>");
            for i in 0..unknown {
                r.push_str(&format!(" <u{i}@x>"));
            }
            r
        };
        let within = [
            record("1@x", "", "gốc", 1),
            record("2@x", &refs(MAX_THREAD_REFERENCES - 1), "khác", 2),
        ];
        assert_eq!(run(&within, references), "THREAD (1 2)");
        let beyond = [
            record("1@x", "", "gốc", 1),
            record("2@x", &refs(MAX_THREAD_REFERENCES), "khác", 2),
        ];
        assert_eq!(run(&beyond, references), "THREAD (1)(2)");
    }

    #[test]
    fn a_long_chain_costs_no_stack() {
        let n = 20_000;
        let records: Vec<SortRecord> = (0..n)
            .map(|i| {
                let refs = if i == 0 {
                    String::new()
                } else {
                    format!("<{}@x>", i - 1)
                };
                record(&format!("{i}@x"), &refs, "chuỗi", i as i64)
            })
            .collect();
        let out = run(&records, references);
        let expected: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        assert_eq!(out, format!("THREAD ({})", expected.join(" ")));
    }

    #[test]
    fn ordered_subject_threads() {
        // RFC 5256 3 ORDEREDSUBJECT: groups by base subject, sorted by date inside, groups by
        // their first message; no grandchildren.
        let records = [
            record("", "", "Họp", 30),
            record("", "", "Re: họp", 10),
            record("", "", "Khác", 20),
            record("", "", "Fwd: Họp", 40),
            record("", "", "Re: Khác", 50),
            record("", "", "Một mình", 5),
        ];
        assert_eq!(run(&records, ordered_subject), "THREAD (6)(2 (1)(4))(3 5)");
    }
}
