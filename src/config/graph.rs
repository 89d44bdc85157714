//! The component graph: every `inputs` name must exist, there are no cycles, every source and
//! transform feeds at least one sink, and components come out in data-path order.
//!
//! A source that feeds no sink is refused rather than warned about: its lines would count as
//! acknowledged with nobody having received them.

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Produces events; has no inputs.
    Source,
    /// Edits events; has inputs and outputs.
    Transform,
    /// Delivers events; has inputs only.
    Sink,
}

/// One component as the graph sees it.
#[derive(Debug)]
pub struct Node<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it is.
    pub role: Role,
    /// The names of its inputs: other components' outputs.
    pub inputs: Vec<&'a str>,
    /// The names of its outputs, which others may use as inputs: its own name, or named
    /// outputs such as `split.failures` (route) and `limit.dropped` (throttle). None for a
    /// sink.
    pub outputs: Vec<String>,
}

/// A graph problem: the node it concerns, the input (by index) if any, and the message.
#[derive(Debug, PartialEq, Eq)]
pub struct GraphError {
    /// Index of the node in the slice given to [`check`].
    pub node: usize,
    /// Index into that node's inputs, when one input is at fault.
    pub input: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Checks the graph; on success returns node indices in topological (data-path) order.
pub fn check(nodes: &[Node<'_>]) -> Result<Vec<usize>, Vec<GraphError>> {
    let mut errors = Vec::new();
    let index = |name: &str| {
        nodes
            .iter()
            .position(|n| n.outputs.iter().any(|o| o == name))
            .or_else(|| {
                nodes
                    .iter()
                    .position(|n| n.role == Role::Sink && n.name == name)
            })
    };
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if node.role != Role::Source && node.inputs.is_empty() {
            errors.push(GraphError {
                node: i,
                input: None,
                message: "has no inputs: set `inputs` to the names of sources or transforms"
                    .to_owned(),
            });
        }
        for (k, input) in node.inputs.iter().enumerate() {
            match index(input) {
                None => errors.push(GraphError {
                    node: i,
                    input: Some(k),
                    message: format!(
                        "input `{input}` does not exist (known sources and transforms: {})",
                        known(nodes)
                    ),
                }),
                Some(j) if nodes[j].role == Role::Sink => errors.push(GraphError {
                    node: i,
                    input: Some(k),
                    message: format!("input `{input}` is a sink; sinks have no outputs"),
                }),
                Some(j) if j == i => errors.push(GraphError {
                    node: i,
                    input: Some(k),
                    message: "a component cannot be its own input".to_owned(),
                }),
                Some(j) => edges[j].push(i),
            }
        }
    }
    // A named output that nobody reads: its events would count as delivered unseen.
    for (i, node) in nodes.iter().enumerate() {
        if node.outputs.len() < 2 && node.outputs.iter().all(|o| o == node.name) {
            continue;
        }
        for output in &node.outputs {
            if !nodes.iter().any(|n| n.inputs.contains(&output.as_str())) {
                errors.push(GraphError {
                    node: i,
                    input: None,
                    message: format!(
                        "output `{output}` is read by no component: its events would be acknowledged without being delivered"
                    ),
                });
            }
        }
    }
    let order = match topological(&edges) {
        Ok(order) => order,
        Err(cycle) => {
            let names: Vec<&str> = cycle.iter().map(|&i| nodes[i].name).collect();
            errors.push(GraphError {
                node: cycle[0],
                input: None,
                message: format!("inputs form a cycle: {}", names.join(" -> ")),
            });
            Vec::new()
        }
    };
    for (i, node) in nodes.iter().enumerate() {
        if node.role != Role::Sink && !reaches_sink(i, nodes, &edges) {
            errors.push(GraphError {
                node: i,
                input: None,
                message: "feeds no sink: its events would be acknowledged without being delivered"
                    .to_owned(),
            });
        }
    }
    if errors.is_empty() {
        Ok(order)
    } else {
        Err(errors)
    }
}

fn known(nodes: &[Node<'_>]) -> String {
    let names: Vec<&str> = nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(String::as_str))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn reaches_sink(start: usize, nodes: &[Node<'_>], edges: &[Vec<usize>]) -> bool {
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        if nodes[i].role == Role::Sink {
            return true;
        }
        stack.extend(edges[i].iter().copied());
    }
    false
}

/// Kahn's algorithm; on a cycle returns the nodes of one cycle.
fn topological(edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = edges.len();
    let mut indegree = vec![0usize; n];
    for targets in edges {
        for &t in targets {
            indegree[t] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &t in &edges[i] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left has a predecessor that is also left; walking predecessors must
    // revisit a node, and the walk between the two visits is a cycle.
    let left = |i: usize| indegree[i] > 0;
    let start = (0..n).find(|&i| left(i)).unwrap_or(0);
    let mut path = vec![start];
    loop {
        let here = *path.last().unwrap_or(&start);
        let Some(pred) = (0..n).find(|&p| left(p) && edges[p].contains(&here)) else {
            return Err(path);
        };
        if let Some(pos) = path.iter().position(|&p| p == pred) {
            let mut cycle = path.split_off(pos);
            cycle.reverse();
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        path.push(pred);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(name: &'a str, role: Role, inputs: &[&'a str]) -> Node<'a> {
        Node {
            name,
            role,
            inputs: inputs.to_vec(),
            outputs: if role == Role::Sink {
                Vec::new()
            } else {
                vec![name.to_owned()]
            },
        }
    }

    #[test]
    fn named_outputs_are_inputs_and_each_must_be_read() {
        let mut split = node("split", Role::Transform, &["src"]);
        split.outputs = vec!["split.failures".into(), "split._unmatched".into()];
        let nodes = [
            node("src", Role::Source, &[]),
            split,
            node("out", Role::Sink, &["split.failures"]),
        ];
        let errors = check(&nodes).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0]
            .message
            .contains("`split._unmatched` is read by no component"));
        let mut split = node("split", Role::Transform, &["src"]);
        split.outputs = vec!["split.failures".into(), "split._unmatched".into()];
        let nodes = [
            node("src", Role::Source, &[]),
            split,
            node("out", Role::Sink, &["split.failures", "split._unmatched"]),
            node("bad", Role::Sink, &["split"]),
        ];
        let errors = check(&nodes).unwrap_err();
        assert!(
            errors[0].message.contains("input `split` does not exist"),
            "{errors:?}"
        );
    }

    #[test]
    fn fan_out_graph_is_ordered_sources_first() {
        let nodes = [
            node("out2", Role::Sink, &["f"]),
            node("f", Role::Transform, &["src"]),
            node("out1", Role::Sink, &["src", "f"]),
            node("src", Role::Source, &[]),
        ];
        let order = check(&nodes).unwrap();
        let pos = |n: &str| order.iter().position(|&i| nodes[i].name == n).unwrap();
        assert!(pos("src") < pos("f"));
        assert!(pos("f") < pos("out1") && pos("f") < pos("out2"));
    }

    #[test]
    fn dangling_input_is_named() {
        let nodes = [
            node("src", Role::Source, &[]),
            node("out", Role::Sink, &["src", "nope"]),
        ];
        let errs = check(&nodes).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].input, Some(1));
        assert!(errs[0].message.contains("`nope` does not exist"));
    }

    #[test]
    fn cycles_are_refused_with_their_path() {
        let nodes = [
            node("src", Role::Source, &[]),
            node("a", Role::Transform, &["src", "b"]),
            node("b", Role::Transform, &["a"]),
            node("out", Role::Sink, &["b"]),
        ];
        let errs = check(&nodes).unwrap_err();
        assert!(
            errs.iter().any(|e| e.message.contains("cycle")
                && e.message.contains('a')
                && e.message.contains('b')),
            "{errs:?}"
        );
    }

    #[test]
    fn a_source_feeding_no_sink_is_refused() {
        let nodes = [
            node("src", Role::Source, &[]),
            node("lonely", Role::Source, &[]),
            node("out", Role::Sink, &["src"]),
        ];
        let errs = check(&nodes).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(nodes[errs[0].node].name, "lonely");
    }

    #[test]
    fn a_sink_cannot_be_an_input() {
        let nodes = [
            node("src", Role::Source, &[]),
            node("a", Role::Sink, &["src"]),
            node("b", Role::Sink, &["a"]),
        ];
        let errs = check(&nodes).unwrap_err();
        assert!(errs[0].message.contains("is a sink"));
    }
}
