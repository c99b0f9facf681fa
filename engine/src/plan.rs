//! What an engine does next for a run, decided from the run and what its tool invocations
//! came to. Pure: the driver observes, this decides, the driver acts and observes again.
//!
//! An engine holds a run's lease only while it can make progress. A run that waits for its
//! tool calls or for a person's approval has its lease given up, so the event that ends the
//! wait (delivered to whichever engine) finds the run free to take.

use std::collections::HashMap;

use domain::run::{Run, RunStatus, StepKind, StepStatus};
use serde_json::Value;
use uuid::Uuid;

/// How many model calls in a row may fail before the run fails.
pub const MAX_CONSECUTIVE_MODEL_FAILURES: usize = 3;

/// What a finished tool invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// The tool returned `output`; `memory_id` is the memory it recorded, when it is the
    /// `memory.record` builtin.
    Succeeded {
        output: Value,
        memory_id: Option<Uuid>,
    },
    Failed(String),
    TimedOut(u64),
}

/// What the driver has seen of a run's tool invocations: the outcome of each finished one.
pub type Outcomes = HashMap<Uuid, InvocationOutcome>;

/// One piece of work on a run, done under its lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Record the memory a `memory.record` call wrote, as the next step.
    RecordMemoryWrite {
        memory_id: Uuid,
        tool_call_id: String,
    },
    /// Record what the invocation of a tool call came to.
    FinishToolCall {
        step: u32,
        tool_call_id: String,
        outcome: InvocationOutcome,
    },
    /// Request the invocation of tool call `step` and record it.
    InvokeTool { step: u32 },
    /// Begin a model call as step `step` (stop rules may stop the run instead).
    BeginModelCall { step: u32 },
    /// Call the model for the pending model call `step` and record its answer.
    CallModel { step: u32 },
    /// The model keeps failing: fail the run.
    FailRun { error: String },
}

/// What the engine does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// The run has stopped.
    Finished,
    /// Another engine holds the lease and works on the run.
    LeasedElsewhere,
    /// Nobody holds the lease and there is work: take it.
    Acquire,
    /// Nothing to do until a tool call finishes or a person decides; give the lease up if
    /// this engine holds it (generation given).
    Wait { held: Option<u32> },
    /// Do `work` under lease generation `generation`.
    Work { generation: u32, work: Work },
}

/// What `engine_id` does next for `run`, given the `outcomes` of its finished invocations.
pub fn next(run: &Run, engine_id: &str, outcomes: &Outcomes) -> Next {
    if run.is_terminal() || !run.exists() {
        return Next::Finished;
    }
    let work = work(run, outcomes);
    match (run.lease(), work) {
        (Some(lease), Some(work)) if lease.engine_id == engine_id => Next::Work {
            generation: lease.lease_generation,
            work,
        },
        (Some(lease), None) if lease.engine_id == engine_id => Next::Wait {
            held: Some(lease.lease_generation),
        },
        (Some(_), _) => Next::LeasedElsewhere,
        (None, Some(_)) => Next::Acquire,
        (None, None) if run.status() == Some(RunStatus::Queued) => Next::Acquire,
        (None, None) => Next::Wait { held: None },
    }
}

/// The work the run needs now, in order: memory writes owed, tool calls that finished,
/// tool calls to invoke, a model call to carry out or to begin.
pub fn work(run: &Run, outcomes: &Outcomes) -> Option<Work> {
    if let Some(owed) = memory_write_owed(run, outcomes) {
        return Some(owed);
    }
    for (step, call) in run.pending_tool_calls() {
        if let Some(outcome) = call.invocation_id.and_then(|id| outcomes.get(&id)) {
            return Some(Work::FinishToolCall {
                step,
                tool_call_id: call.tool_call_id.clone(),
                outcome: outcome.clone(),
            });
        }
    }
    if let Some((step, _)) = run.tool_calls_to_invoke().next() {
        return Some(Work::InvokeTool { step });
    }
    let mut pending = run.pending_steps();
    match pending.next() {
        Some(step) if step.kind() == StepKind::ModelCall => {
            Some(Work::CallModel { step: step.number })
        }
        Some(_) => None,
        None if run.status() != Some(RunStatus::Running) => None,
        None => Some(match failed_model_calls_in_a_row(run) {
            Some(error) => Work::FailRun { error },
            None => Work::BeginModelCall {
                step: run.next_step(),
            },
        }),
    }
}

/// A `memory.record` call that succeeded while its memory is not recorded as a step yet.
fn memory_write_owed(run: &Run, outcomes: &Outcomes) -> Option<Work> {
    run.steps().iter().find_map(|step| {
        let call = step.tool_call()?;
        if step.status != StepStatus::Succeeded {
            return None;
        }
        let Some(InvocationOutcome::Succeeded {
            memory_id: Some(memory_id),
            ..
        }) = outcomes.get(&call.invocation_id?)
        else {
            return None;
        };
        let recorded = run
            .steps()
            .iter()
            .any(|s| s.memory_write().is_some_and(|w| w.memory_id == *memory_id));
        (!recorded).then(|| Work::RecordMemoryWrite {
            memory_id: *memory_id,
            tool_call_id: call.tool_call_id.clone(),
        })
    })
}

/// The last error, when the run's last model calls all failed and there are enough of them.
fn failed_model_calls_in_a_row(run: &Run) -> Option<String> {
    let recent: Vec<_> = run
        .steps()
        .iter()
        .rev()
        .filter_map(|step| Some((step.status, step.model_call()?)))
        .take(MAX_CONSECUTIVE_MODEL_FAILURES)
        .collect();
    let all_failed = recent.len() == MAX_CONSECUTIVE_MODEL_FAILURES
        && recent
            .iter()
            .all(|(status, _)| *status == StepStatus::Failed);
    let (_, last) = recent.first()?;
    all_failed.then(|| {
        format!(
            "the model failed {MAX_CONSECUTIVE_MODEL_FAILURES} times in a row: {}",
            last.error.as_deref().unwrap_or("unknown error")
        )
    })
}

/// The invocations whose outcome the plan needs: those of pending tool calls, and those
/// of succeeded tool calls whose output names a memory not recorded as a step yet.
pub fn invocations_to_observe(run: &Run) -> Vec<Uuid> {
    let pending = run
        .pending_tool_calls()
        .filter_map(|(_, call)| call.invocation_id);
    let memory_writers = run.steps().iter().filter_map(|step| {
        let call = step.tool_call()?;
        let memory_id = call.output.as_ref()?.get("memory_id")?.as_str()?;
        let recorded = run.steps().iter().any(|s| {
            s.memory_write()
                .is_some_and(|w| w.memory_id.to_string() == memory_id)
        });
        (step.status == StepStatus::Succeeded && !recorded)
            .then_some(call.invocation_id)
            .flatten()
    });
    pending.chain(memory_writers).collect()
}

#[cfg(test)]
mod tests;
