//! Given / when / then tests of the billing account, and the helpers they share.

use cqrs_es::test::TestFramework;

use super::fixtures::at;
use super::*;

mod credits;
mod events;
mod invoices;
mod opening;
mod price_books;
mod quota_crossing;
mod quotas;
mod state;
mod usage;
mod usage_fields;

type BillingTest = TestFramework<BillingAccount>;

fn grant(tenant_id: Uuid, amount_micros: i64, reason: Option<String>) -> BillingCommand {
    BillingCommand::GrantCredits {
        tenant_id,
        amount_micros,
        reason,
        now: at(10),
    }
}

fn set_quota(tenant_id: Uuid, meter: Meter, limit: i64, period: QuotaPeriod) -> BillingCommand {
    BillingCommand::SetQuota {
        tenant_id,
        meter,
        limit,
        period,
        now: at(10),
    }
}

fn remove_quota(tenant_id: Uuid, meter: Meter) -> BillingCommand {
    BillingCommand::RemoveQuota {
        tenant_id,
        meter,
        now: at(10),
    }
}

fn close_period(tenant_id: Uuid, period: &str, now: DateTime<Utc>) -> BillingCommand {
    BillingCommand::CloseBillingPeriod {
        tenant_id,
        period: period.to_owned(),
        invoice_id: fixtures::INVOICE,
        now,
    }
}

/// One tool invocation keyed `key`.
fn usage_with_key(key: &str) -> BillingCommand {
    fixtures::record_usage(Meter::ToolInvocations, 1, key, at(10))
}

/// A price book (version 9) that prices only `meter`.
fn priced(meter: Meter, price: i64) -> PriceBook {
    PriceBook {
        version: 9,
        prices: BTreeMap::from([(meter, price)]),
    }
}

fn invalid(field: &str, message: &str) -> BillingError {
    BillingError::Invalid(vec![FieldError::new(field, message)])
}

/// The state the events leave behind.
fn replay(events: impl IntoIterator<Item = BillingEvent>) -> BillingAccount {
    let mut account = BillingAccount::default();
    for event in events {
        account.apply(event);
    }
    account
}
