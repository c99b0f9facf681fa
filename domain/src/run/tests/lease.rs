//! Leases: taking, giving up and expiring them, and fencing off engines that lost theirs.

use super::*;
use crate::run::fixtures::{OTHER_ENGINE, calling_tools};

fn released(lease_generation: u32, minutes: i64) -> RunEvent {
    RunEvent::RunLeaseReleased(RunLeaseReleased {
        engine_id: ENGINE.to_owned(),
        lease_generation,
        released_at: at(minutes),
    })
}

fn expired(lease_generation: u32, expirations: u32, minutes: i64) -> RunEvent {
    RunEvent::RunLeaseExpired(RunLeaseExpired {
        engine_id: ENGINE.to_owned(),
        lease_generation,
        lease_until: at(minutes - 1),
        expirations,
        expired_at: at(minutes),
    })
}

// --- AcquireLease ------------------------------------------------------------------------

#[test]
fn the_first_lease_starts_a_queued_run_at_generation_one() {
    given(vec![run_started()])
        .when(acquire(TENANT, ENGINE))
        .then_expect_events(vec![RunEvent::RunLeaseAcquired(RunLeaseAcquired {
            engine_id: ENGINE.to_owned(),
            lease_generation: 1,
            lease_until: at(11),
            acquired_at: at(10),
        })]);
}

#[test]
fn a_released_lease_can_be_taken_by_another_engine_at_the_next_generation() {
    given(and(running(), [released(LEASE, 2)]))
        .when(acquire(TENANT, OTHER_ENGINE))
        .then_expect_events(vec![RunEvent::RunLeaseAcquired(RunLeaseAcquired {
            engine_id: OTHER_ENGINE.to_owned(),
            lease_generation: 2,
            lease_until: at(11),
            acquired_at: at(10),
        })]);
}

#[test]
fn an_expired_lease_can_be_taken_over_at_the_next_generation() {
    given(and(running(), [expired(LEASE, 1, 5)]))
        .when(acquire(TENANT, OTHER_ENGINE))
        .then_expect_events(vec![RunEvent::RunLeaseAcquired(RunLeaseAcquired {
            engine_id: OTHER_ENGINE.to_owned(),
            lease_generation: 2,
            lease_until: at(11),
            acquired_at: at(10),
        })]);
}

#[test]
fn a_run_waiting_for_approval_can_be_leased() {
    let events = and(calling_tools(true), [released(LEASE, 4)]);
    let result = given(events).when(acquire(TENANT, ENGINE)).inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn rejects_a_lease_another_engine_holds() {
    given(running())
        .when(acquire(TENANT, OTHER_ENGINE))
        .then_expect_error(RunError::LeaseHeld {
            engine_id: ENGINE.to_owned(),
            lease_generation: LEASE,
        });
}

#[test]
fn tells_an_engine_that_asks_again_that_it_holds_the_lease() {
    given(running())
        .when(acquire(TENANT, ENGINE))
        .then_expect_error(RunError::AlreadyLeased {
            lease_generation: LEASE,
        });
}

#[test]
fn rejects_a_lease_that_ends_before_it_starts() {
    given(vec![run_started()])
        .when(RunCommand::AcquireLease {
            tenant_id: TENANT,
            engine_id: ENGINE.to_owned(),
            lease_until: at(10),
            now: at(10),
        })
        .then_expect_error(invalid("lease_until", "must be after now"));
}

#[test]
fn rejects_an_engine_id_holding_a_line_break() {
    given(vec![run_started()])
        .when(acquire(TENANT, "engine\n1"))
        .then_expect_error(invalid("engine_id", "must not contain control characters"));
}

// --- ReleaseLease ------------------------------------------------------------------------

#[test]
fn releases_the_lease_in_force() {
    given(running())
        .when(release(LEASE))
        .then_expect_events(vec![released(LEASE, 10)]);
}

#[test]
fn rejects_releasing_a_lease_twice_as_stale() {
    given(and(running(), [released(LEASE, 2)]))
        .when(release(LEASE))
        .then_expect_error(RunError::StaleLease {
            lease_generation: LEASE,
            current: None,
        });
}

// --- ExpireLease -------------------------------------------------------------------------

#[test]
fn expires_a_lease_that_ran_out() {
    given(running())
        .when(expire(LEASE, 9))
        .then_expect_events(vec![expired(LEASE, 1, 10)]);
}

#[test]
fn rejects_expiring_a_lease_its_engine_extended_past_now() {
    given(running())
        .when(expire(LEASE, 12))
        .then_expect_error(RunError::LeaseNotExpired {
            lease_until: at(12),
        });
}

#[test]
fn rejects_expiring_a_lease_that_runs_until_exactly_now() {
    given(running())
        .when(expire(LEASE, 10))
        .then_expect_error(RunError::LeaseNotExpired {
            lease_until: at(10),
        });
}

#[test]
fn never_expires_a_lease_before_the_end_it_was_taken_with() {
    let taken_until_later = RunEvent::RunLeaseAcquired(RunLeaseAcquired {
        engine_id: ENGINE.to_owned(),
        lease_generation: LEASE,
        lease_until: at(30),
        acquired_at: at(1),
    });
    given(vec![run_started(), taken_until_later])
        .when(expire(LEASE, 5))
        .then_expect_error(RunError::LeaseNotExpired {
            lease_until: at(30),
        });
}

#[test]
fn rejects_expiring_a_lease_that_was_taken_over() {
    given(and(
        running(),
        [expired(LEASE, 1, 5), lease_acquired(OTHER_ENGINE, 2, 6)],
    ))
    .when(expire(LEASE, 5))
    .then_expect_error(RunError::StaleLease {
        lease_generation: LEASE,
        current: Some(2),
    });
}

#[test]
fn the_third_expiration_fails_the_run() {
    given(and(
        running(),
        [
            expired(1, 1, 3),
            lease_acquired(ENGINE, 2, 4),
            expired(2, 2, 6),
            lease_acquired(ENGINE, 3, 7),
        ],
    ))
    .when(expire(3, 9))
    .then_expect_events(vec![
        RunEvent::RunLeaseExpired(RunLeaseExpired {
            engine_id: ENGINE.to_owned(),
            lease_generation: 3,
            lease_until: at(9),
            expirations: 3,
            expired_at: at(10),
        }),
        RunEvent::RunFailed(RunFailed {
            stop_reason: StopReason::Error,
            error: "the run's engine lease expired 3 times".to_owned(),
            failed_at: at(10),
        }),
    ]);
}

// --- Fencing -----------------------------------------------------------------------------

#[test]
fn rejects_work_from_an_engine_whose_lease_was_taken_over() {
    let events = and(
        running(),
        [expired(LEASE, 1, 5), lease_acquired(OTHER_ENGINE, 2, 6)],
    );
    given(events)
        .when(begin(1))
        .then_expect_error(RunError::StaleLease {
            lease_generation: LEASE,
            current: Some(2),
        });
}

#[test]
fn rejects_work_on_a_queued_run_nobody_leased() {
    given(vec![run_started()])
        .when(begin(1))
        .then_expect_error(RunError::StaleLease {
            lease_generation: LEASE,
            current: None,
        });
}

#[test]
fn rejects_every_kind_of_engine_work_under_a_stale_lease() {
    let commands = [
        begin(1),
        complete(1, fixtures::final_answer()),
        fail_model_call(1, "boom"),
        record_invocation(2, "call-1"),
        complete_tool(2, "call-1", Value::Null),
        fail_tool(2, "call-1", "boom"),
        record_memory(4, None),
    ];
    for command in commands {
        let action = command.action();
        let result = given(and(calling_tools(false), [released(LEASE, 4)]))
            .when(command)
            .inspect_result();
        let expected = RunError::StaleLease {
            lease_generation: LEASE,
            current: None,
        };
        assert_eq!(result, Err(expected), "{action}");
    }
}
