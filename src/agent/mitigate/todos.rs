//! The offline agent's to-do list: the plan's steps, with each mitigation
//! attached to the step whose words describe it best (or a to-do of its own).

use super::describe;
use crate::model::{Mitigation, Plan, Todo, TodoStatus};

/// The to-do list from the plan's steps, and which mitigations each to-do carries out.
pub(super) fn todo_list(plan: &Plan) -> (Vec<Todo>, Vec<Vec<Mitigation>>) {
    let mut todos: Vec<Todo> = plan
        .steps
        .iter()
        .map(|s| Todo {
            id: s.id.clone(),
            content: s.description.clone(),
            status: TodoStatus::Pending,
        })
        .collect();
    let mut work: Vec<Vec<Mitigation>> = vec![Vec::new(); todos.len()];
    for (n, m) in plan.mitigations.iter().enumerate() {
        let best = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (i, score(m, &s.description)))
            .filter(|(_, sc)| *sc > 0)
            .max_by_key(|(i, sc)| (*sc, std::cmp::Reverse(*i)));
        match best {
            Some((i, _)) => work[i].push(m.clone()),
            None => {
                todos.push(Todo {
                    id: format!("m{}", n + 1),
                    content: describe(m),
                    status: TodoStatus::Pending,
                });
                work.push(vec![m.clone()]);
            }
        }
    }
    (todos, work)
}

/// How well a step's words describe a mitigation (0: not at all).
fn score(m: &Mitigation, step: &str) -> usize {
    let s = step.to_lowercase();
    let (service, words): (&str, &[&str]) = match m {
        Mitigation::RaiseMemoryLimit { service, .. } => {
            (&service.0, &["memory", "limit", "raise", "oom", "headroom"])
        }
        Mitigation::SetReplicas { service, .. } => {
            (&service.0, &["replica", "scale", "capacity", "instances"])
        }
        Mitigation::RollbackImage { service, tag } => {
            let hits = [
                "roll back",
                "rollback",
                "roll it back",
                "revert",
                "previous",
                "image",
                tag.as_str(),
            ]
            .iter()
            .filter(|w| s.contains(&w.to_lowercase()))
            .count();
            return if hits == 0 {
                0
            } else {
                hits + usize::from(s.contains(service.0.as_str()))
            };
        }
    };
    let hits = words.iter().filter(|w| s.contains(*w)).count();
    if hits == 0 {
        0
    } else {
        hits + usize::from(s.contains(service))
    }
}
