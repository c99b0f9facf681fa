//! Invocation ids derived from idempotency keys, so that a repeated request names the
//! invocation it already made instead of making another.

use uuid::Uuid;

/// The fixed namespace of derived invocation ids. Never change it: every derived id
/// ever handed out depends on it.
pub const INVOCATION_ID_NAMESPACE: Uuid =
    Uuid::from_u128(0xf1ed_2907_a83a_470c_b3c2_6140_efcf_9f22);

/// The id of the invocation `tenant_id` requests with `idempotency_key`: a UUIDv5 over
/// [`INVOCATION_ID_NAMESPACE`] and `"<tenant>/<key>"`. The same key of the same tenant
/// always names the same invocation; other tenants' keys never collide with it.
pub fn invocation_id(tenant_id: Uuid, idempotency_key: &str) -> Uuid {
    Uuid::new_v5(
        &INVOCATION_ID_NAMESPACE,
        format!("{tenant_id}/{idempotency_key}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::fixtures::{OTHER_TENANT, TENANT};

    #[test]
    fn the_same_key_of_the_same_tenant_names_the_same_invocation() {
        assert_eq!(invocation_id(TENANT, "k-1"), invocation_id(TENANT, "k-1"));
        assert_eq!(invocation_id(TENANT, "k-1").get_version_num(), 5);
    }

    #[test]
    fn other_keys_and_other_tenants_name_other_invocations() {
        assert_ne!(invocation_id(TENANT, "k-1"), invocation_id(TENANT, "k-2"));
        assert_ne!(
            invocation_id(TENANT, "k-1"),
            invocation_id(OTHER_TENANT, "k-1")
        );
    }

    #[test]
    fn the_derivation_never_changes() {
        // Ids already handed out must keep naming their invocations.
        assert_eq!(
            invocation_id(TENANT, "run-00d1/step-3/call-7").to_string(),
            "6c06f933-cfc9-5bd0-b3e5-015c449d0515"
        );
    }
}
