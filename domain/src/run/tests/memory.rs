//! Recording the memories a run wrote.

use super::*;
use crate::run::fixtures::calling_tools;

fn memory_written(step: u32, tool_call_id: Option<&str>, minutes: i64) -> RunEvent {
    RunEvent::MemoryWriteRecorded(MemoryWriteRecorded {
        step,
        memory_id: MEMORY,
        tool_call_id: tool_call_id.map(str::to_owned),
        recorded_at: at(minutes),
    })
}

#[test]
fn records_a_memory_as_the_next_step() {
    given(running())
        .when(record_memory(1, None))
        .then_expect_events(vec![memory_written(1, None, 10)]);
}

#[test]
fn records_a_memory_a_tool_call_wrote_while_the_call_is_pending() {
    given(calling_tools(false))
        .when(record_memory(4, Some("call-1")))
        .then_expect_events(vec![memory_written(4, Some("call-1"), 10)]);
}

#[test]
fn records_a_memory_while_the_run_awaits_approval() {
    given(calling_tools(true))
        .when(record_memory(4, None))
        .then_expect_events(vec![memory_written(4, None, 10)]);
}

#[test]
fn tells_a_repeated_memory_write_that_it_is_recorded() {
    given(and(running(), [memory_written(1, None, 2)]))
        .when(record_memory(1, None))
        .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn tells_the_same_memory_at_a_later_step_where_it_is_recorded() {
    given(and(running(), [memory_written(1, None, 2)]))
        .when(record_memory(2, None))
        .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn rejects_a_memory_write_that_skips_a_step() {
    given(running())
        .when(record_memory(3, None))
        .then_expect_error(RunError::WrongStep {
            step: 3,
            expected: 1,
        });
}

#[test]
fn rejects_a_memory_write_at_a_step_of_another_kind() {
    given(calling_tools(false))
        .when(record_memory(2, None))
        .then_expect_error(RunError::WrongStep {
            step: 2,
            expected: 4,
        });
}

#[test]
fn rejects_a_memory_write_naming_a_tool_call_the_run_lacks() {
    given(calling_tools(false))
        .when(record_memory(4, Some("call-9")))
        .then_expect_error(invalid("tool_call_id", "must name a tool call of this run"));
}

#[test]
fn rejects_a_memory_write_naming_a_malformed_tool_call_id() {
    given(calling_tools(false))
        .when(record_memory(4, Some("call 1")))
        .then_expect_error(invalid(
            "tool_call_id",
            "must hold only printable ASCII characters without spaces",
        ));
}
